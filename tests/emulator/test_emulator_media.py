"""The web read-aloud flow (a message's content set, then `/api/v2/tts/completions` as base64 PCM frames),
against the emulator process. Uploaded audio answered with its transcript is tested through the gateway
(`tests/e2e/test_audio_web.py`), which uploads it the way the web app does."""

from __future__ import annotations

import base64

import orjson

from qwen_server.emulator.media import speech_pcm
from tests.emulator.emulator_harness import WebClient


def _frames(text: str) -> list[dict[str, object]]:
    return [orjson.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_tts_speaks_the_text_set_on_the_message(client: WebClient) -> None:
    chat = client.new_chat()
    response_id = client.complete("anything", chat_id=chat).events[0]["response.created"]["response_id"]
    text = "Read this aloud."
    body = {"content_list": [{"content": text, "phase": "answer", "status": "finished", "role": "assistant"}]}
    set_reply = client.http.post(
        f"/api/v2/chats/{chat}/messages/{response_id}", json=body, headers=client.auth
    )
    assert set_reply.json()["success"] is True
    tts = client.http.post(
        "/api/v2/tts/completions",
        params={"chat_id": chat},
        json={"chat_id": chat, "timestamp": 1, "messages": [{"id": response_id, "role": "assistant"}]},
        headers=client.auth,
    )
    assert tts.headers["content-type"].startswith("text/event-stream")
    deltas = [f["choices"][0]["delta"] for f in _frames(tts.text)]  # type: ignore[index]
    assert [d["status"] for d in deltas] == ["typing"] * (len(deltas) - 1) + ["finished"]
    assert len(deltas) > 2
    pcm = b"".join(base64.b64decode(d["tts"]) for d in deltas)
    assert pcm == speech_pcm(text)
    assert len(pcm) == len(text) * 960 * 2  # 40 ms of 24 kHz s16le per character


def test_tts_needs_a_message_with_content_and_the_chat_owner(client: WebClient) -> None:
    chat = client.new_chat()
    unknown = client.http.post(
        "/api/v2/tts/completions",
        params={"chat_id": chat},
        json={"chat_id": chat, "messages": [{"id": "no-such-message"}]},
        headers=client.auth,
    )
    assert unknown.json()["data"]["code"] == "Not_Found"
    anonymous = client.http.post("/api/v2/tts/completions", params={"chat_id": chat}, json={})
    assert anonymous.status_code == 401
