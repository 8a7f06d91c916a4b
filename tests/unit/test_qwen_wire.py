"""Parsing the web API's stream events and error bodies into neutral events and product errors."""

from __future__ import annotations

import pytest

from qwen_server.core import errors
from qwen_server.core.model import Finish, TextDelta, ThinkingDelta
from qwen_server.providers.qwen_web import wire


def _delta(content: str, phase: str, status: str = "typing") -> dict[str, object]:
    return {
        "choices": [{"delta": {"role": "assistant", "content": content, "phase": phase, "status": status}}]
    }


def test_think_then_answer_phases() -> None:
    state = wire.StreamState()
    events = []
    for payload in [
        {"response.created": {"chat_id": "c", "response_id": "r"}},
        _delta("hmm", "think"),
        _delta("", "think", "finished"),
        _delta("summary", "thinking_summary"),
        {**_delta("Hel", "answer"), "usage": {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}},
        _delta("lo", "answer"),
        _delta("", "answer", "finished"),
    ]:
        events += wire.parse_event(payload, state)
    assert events == [ThinkingDelta("hmm"), ThinkingDelta("summary"), TextDelta("Hel"), TextDelta("lo")]
    assert state.answer_finished and state.response_id == "r"
    assert state.usage is not None and (state.usage.input_tokens, state.usage.output_tokens) == (9, 2)
    assert state.phases_seen == ["think", "thinking_summary", "answer"]


def test_search_and_image_phases_carry_no_chat_text() -> None:
    state = wire.StreamState()
    assert wire.parse_event(_delta("searching...", "web_search"), state) == []
    assert not state.answer_finished


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"error": {"code": "RateLimited", "details": "daily usage limit"}}, errors.UpstreamRateLimited),
        (
            {"success": False, "data": {"code": "RateLimited", "details": "slow down"}},
            errors.UpstreamRateLimited,
        ),
        (
            {"success": False, "data": {"code": "Bad_Request", "details": "The chat is in progress!"}},
            errors.UpstreamError,
        ),
        ({"success": False, "code": "Bad_Request", "msg": "bad"}, errors.UpstreamBadRequest),
        ({"error": {"code": "Unauthorized", "details": "Not authenticated"}}, errors.UpstreamForbidden),
        ({"error": {"code": "SomethingNew", "details": "never seen"}}, errors.UpstreamUnknownError),
        ({"success": False}, errors.UpstreamUnknownError),
        ({"error": {"code": "ModelNotFound", "details": "model not found"}}, errors.UpstreamModelNotFound),
    ],
)
def test_in_stream_errors(payload: dict[str, object], kind: type[errors.GatewayError]) -> None:
    with pytest.raises(kind):
        wire.parse_event(payload, wire.StreamState())


def test_unknown_codes_are_neither_retried_nor_held_against_the_account() -> None:
    from qwen_server.pool import health

    error = wire.classify_code("Totally_New_Code", "something odd")
    assert not error.retryable and health.classify(error) is health.FailureKind.NEUTRAL
    refused = wire.classify_response(403, b'{"detail": "Forbidden"}', {})
    assert refused.retryable and health.classify(refused) is health.FailureKind.FORBIDDEN


def test_in_progress_is_retryable_but_bad_request_is_not() -> None:
    busy = wire.stream_error(
        {"success": False, "data": {"code": "Bad_Request", "details": "The chat is in progress!"}}
    )
    assert busy is not None and busy.retryable
    bad = wire.stream_error({"success": False, "code": "Bad_Request"})
    assert bad is not None and not bad.retryable


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (
            429,
            b'{"success": false, "data": {"code": "RateLimited"}}',
            {"retry-after": "17"},
            errors.UpstreamRateLimited,
            17,
        ),
        (401, b'{"detail": "Not authenticated"}', {}, errors.UpstreamForbidden, None),
        (403, b'{"detail": "model not allowed for this account"}', {}, errors.UpstreamForbidden, None),
        (400, b'{"success": false, "data": {"code": "Brand_New"}}', {}, errors.UpstreamUnknownError, None),
        (500, b"oops", {}, errors.UpstreamError, None),
        (
            403,
            b"<!DOCTYPE html><html>aliyun_waf</html>",
            {"content-type": "text/html"},
            errors.UpstreamBlocked,
            None,
        ),
        (200, b"<html>RGV587_ERROR::SM</html>", {}, errors.UpstreamBlocked, None),
        (400, b'{"detail": "model xyz not found"}', {}, errors.UpstreamModelNotFound, None),
    ],
)
def test_http_error_answers(
    status: int, body: bytes, headers: dict[str, str], kind: type, retry_after: float | None
) -> None:
    error = wire.classify_response(status, body, headers)
    assert type(error) is kind
    assert error.retry_after == retry_after


def test_completion_body_follows_the_documented_layout() -> None:
    body = wire.completion_body(
        chat_id="c1", model="qwen3-max", content="hi", thinking=True, thinking_budget=100, now=1000.0
    )
    assert body["stream"] is True and body["incremental_output"] is True and body["chat_id"] == "c1"
    message = body["messages"][0]
    assert message["content"] == "hi" and message["chat_type"] == "t2t" and message["timestamp"] == 1000
    assert message["feature_config"] == {
        "thinking_enabled": True,
        "output_schema": "phase",
        "thinking_budget": 100,
    }
    assert wire.new_chat_body("qwen3-max", now_ms=5)["models"] == ["qwen3-max"]


@pytest.mark.parametrize(
    "payload",
    [
        {
            "error": {
                "code": "data_inspection_failed",
                "details": "Output data may contain inappropriate content.",
            }
        },
        {"success": False, "data": {"code": "DataInspectionFailed", "details": "Input data may contain ..."}},
        {"error": {"code": "", "message": "Input or output data may contain inappropriate content."}},
    ],
)
def test_a_moderation_refusal_ends_the_answer_with_content_filter(payload: dict[str, object]) -> None:
    state = wire.StreamState()
    assert wire.parse_event(payload, state) == [Finish("content_filter")]
    assert state.answer_finished


def test_other_in_stream_errors_still_raise() -> None:
    with pytest.raises(errors.UpstreamError):
        wire.parse_event({"error": {"code": "InternalError", "details": "boom"}}, wire.StreamState())
