"""The web's media turns as pure functions: bodies, image URLs out of SSE frames, task ids and task status
(the `x-actual-status-code` header wins over the wire status)."""

from __future__ import annotations

import pytest

from qwen_server.core.errors import UpstreamBadRequest, UpstreamError, UpstreamForbidden, UpstreamRateLimited
from qwen_server.providers.qwen_web import media_wire


def test_video_body_is_not_streamed_and_carries_the_ratio_twice() -> None:
    body = media_wire.media_body(chat_id="c", model="qwen3-max", prompt="p", chat_type="t2v", ratio="16:9")
    message = body["messages"][0]
    assert body["stream"] is False and body["size"] == "16:9"
    assert (
        message["chat_type"] == message["sub_chat_type"] == message["extra"]["meta"]["subChatType"] == "t2v"
    )
    assert message["extra"]["meta"]["size"] == "16:9"
    assert message["feature_config"]["thinking_enabled"] is False
    image = media_wire.media_body(
        chat_id="c", model="m", prompt="p", chat_type="t2i", ratio="1:1", files=[{"url": "u"}]
    )
    assert image["stream"] is True and image["messages"][0]["files"] == [{"url": "u"}]


def test_image_urls_come_from_image_phases_only_without_the_echoed_input() -> None:
    frame = {
        "choices": [
            {"delta": {"content": "https://cdn/x.png?key=k", "phase": "image_gen", "status": "typing"}}
        ]
    }
    assert media_wire.image_urls(frame, frozenset()) == ["https://cdn/x.png?key=k"]
    echo = {"choices": [{"delta": {"content": "https://cdn/in.png", "phase": "image_edit"}}]}
    assert media_wire.image_urls(echo, frozenset({"https://cdn/in.png"})) == []
    answer = {"choices": [{"delta": {"content": "https://example.com", "phase": "answer"}}]}
    assert media_wire.image_urls(answer, frozenset()) == []


def test_the_image_phase_finishing_ends_the_turn() -> None:
    end = {"choices": [{"delta": {"content": "", "phase": "image_gen", "status": "finished"}}]}
    assert media_wire.image_turn_finished(end)
    answer_end = {"choices": [{"delta": {"content": "", "phase": "answer", "status": "finished"}}]}
    assert not media_wire.image_turn_finished(answer_end)


def test_the_daily_limit_names_its_reset_in_hours() -> None:
    body = {"success": False, "data": {"code": "RateLimited", "details": "limit", "num": 6}}
    error = media_wire.media_error(body)
    assert isinstance(error, UpstreamRateLimited) and error.retry_after == 6 * 3600
    with pytest.raises(UpstreamRateLimited):
        media_wire.image_urls(body, frozenset())


def test_task_ids_and_their_absence() -> None:
    payload = {"success": True, "data": {"messages": [{"extra": {"wanx": {"task_id": "t-1"}}}]}}
    assert media_wire.task_id_of(payload) == "t-1"
    with pytest.raises(UpstreamError):
        media_wire.task_id_of({"success": True, "data": {"messages": [{"extra": {}}]}})


def test_task_status_reads_the_actual_status_header() -> None:
    running = {"success": True, "data": {"task_status": "running", "content": ""}}
    assert media_wire.task_state(200, {"x-actual-status-code": "200"}, running).status == "running"
    done = {"success": True, "data": {"task_status": "success", "content": "https://cdn/v.mp4?key=k"}}
    state = media_wire.task_state(200, {}, done)
    assert (state.status, state.url) == ("succeeded", "https://cdn/v.mp4?key=k")
    missing = {"success": False, "data": {"code": "Not_Found", "details": "Task not found"}}
    assert media_wire.task_state(200, {"x-actual-status-code": "404"}, missing).status == "failed"
    with pytest.raises(UpstreamForbidden):
        media_wire.task_state(200, {"x-actual-status-code": "401"}, {"detail": "Not authenticated"})
    odd = {"success": True, "data": {"task_status": "cancelled"}}
    failed = media_wire.task_state(200, {}, odd)
    assert failed.status == "failed" and "cancelled" in (failed.error or "")
    with pytest.raises(UpstreamBadRequest):
        media_wire.task_state(
            200, {"x-actual-status-code": "400"}, {"success": False, "data": {"code": "Bad_Request"}}
        )
