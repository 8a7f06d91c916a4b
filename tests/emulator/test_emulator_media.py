"""The web read-aloud flow (a message's content set, then `/api/v2/tts/completions` as base64 PCM frames),
against the emulator process. Uploaded audio answered with its transcript is tested through the gateway
(`tests/e2e/test_audio_web.py`), which uploads it the way the web app does."""

from __future__ import annotations

import base64
import io
import wave

import httpx
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


def test_dashscope_speech_streams_pcm_frames_and_answers_a_wav_url_without_sse(emu: str) -> None:
    path = "/api/v1/services/aigc/multimodal-generation/generation"
    body = {
        "model": "qwen3-tts-flash",
        "input": {"text": "two words", "voice": "Cherry", "language_type": "Auto"},
    }
    key = {"authorization": "Bearer sk-emulated"}
    with httpx.Client(base_url=emu, timeout=30) as http:
        assert http.post(path, json=body).status_code == 401
        refused = http.post(path, json={**body, "model": "qwen3-max"}, headers=key)
        assert refused.status_code == 400 and refused.json()["code"] == "InvalidParameter"
        streamed = http.post(path, json=body, headers={**key, "X-DashScope-SSE": "enable"})
        frames = [orjson.loads(line[5:]) for line in streamed.text.splitlines() if line.startswith("data:")]
        assert [f["output"]["finish_reason"] for f in frames][-1] == "stop"
        pcm = b"".join(base64.b64decode(f["output"]["audio"]["data"]) for f in frames)
        assert pcm == speech_pcm("two words") and len(frames) > 1
        whole = http.post(path, json=body, headers=key).json()
        wav = http.get(whole["output"]["audio"]["url"])
        with wave.open(io.BytesIO(wav.content)) as reader:
            assert (reader.getframerate(), reader.getnchannels()) == (24_000, 1)
            assert reader.readframes(reader.getnframes()) == pcm
