"""Chats and streaming completions: the SSE shapes, phases, usage, echo and the validation errors."""

from __future__ import annotations

import threading
import time

import orjson

from tests.emulator.emulator_harness import VERSION, WebClient, completion_body, email


def test_stream_has_created_then_answer_deltas_then_finished(client: WebClient) -> None:
    chat = client.new_chat()
    reply = client.complete("Hello there, world!", chat_id=chat)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = reply.events
    created = events[0]["response.created"]
    assert created["chat_id"] == chat and created["response_id"] and created["parent_id"]
    deltas = reply.deltas()
    assert {d["phase"] for d in deltas} == {"answer"}
    assert all(d["role"] == "assistant" for d in deltas)
    assert [d["status"] for d in deltas] == ["typing"] * (len(deltas) - 1) + ["finished"]
    assert deltas[-1]["content"] == ""
    assert [d["content"] for d in deltas[:-1]] == ["Hello", " there,", " world!"]
    assert all(e["response_id"] == created["response_id"] for e in events[1:])


def test_usage_counts_input_and_growing_output(client: WebClient) -> None:
    content = "word " * 40
    usages = [e["usage"] for e in client.complete(content).events[1:]]
    assert all(u["input_tokens"] == len(content) // 4 for u in usages)
    outputs = [u["output_tokens"] for u in usages]
    assert outputs == sorted(outputs) and outputs[0] >= 1 and outputs[-1] > outputs[0]
    assert all(u["total_tokens"] == u["input_tokens"] + u["output_tokens"] for u in usages)
    assert client.complete("x").events[1]["usage"]["input_tokens"] == 1


def test_think_phase_only_when_thinking_is_enabled(client: WebClient) -> None:
    plain = client.complete("Why is the sky blue?")
    assert plain.deltas("think") == []
    thinking = client.complete("Why is the sky blue?", thinking=True)
    phases = [(d["phase"], d["status"]) for d in thinking.deltas()]
    first_answer = phases.index(("answer", "typing"))
    assert phases[first_answer - 1] == ("think", "finished")
    assert all(p == ("think", "typing") for p in phases[: first_answer - 1])
    assert "sky" in thinking.think()
    assert thinking.answer() == plain.answer() == "Why is the sky blue?"
    assert client.complete("Hi", thinking=True, model="qwen3-coder-plus").deltas("think") == []


def test_thinking_budget_caps_the_think_phase(client: WebClient) -> None:
    script = '[[emulator:{"thinking": "%s"}]]' % ("step " * 200)
    full = client.complete(script, thinking=True).think()
    capped = client.complete(script, thinking=True, budget=10).think()
    assert len(full) > 900 and 0 < len(capped) <= 40


def test_echo_repeats_the_last_user_block_of_a_flattened_conversation(client: WebClient) -> None:
    content = (
        "[system]\nBe brief.\n\n[user]\nHi\n\n[assistant]\nHello\n\n"
        '[tool_result id=call_1]\n{"ok": true}\n\n[user]\nWhat   now?\nTell me.\n\n[assistant]\nThinking'
    )
    assert client.complete(content).answer() == "What   now?\nTell me."
    assert client.complete("  plain text, no headers  ").answer() == "plain text, no headers"


def test_incremental_output_false_sends_cumulative_text(client: WebClient) -> None:
    pieces = [d["content"] for d in client.complete("a b c", incremental=False).deltas("answer")]
    assert pieces == ["a", "a b", "a b c", ""]


def test_non_streaming_answers_the_collected_message(client: WebClient) -> None:
    reply = client.complete("one two", stream=False, thinking=True)
    assert reply.headers["content-type"] == "application/json"
    data = orjson.loads(reply.text)["data"]
    message = data["messages"][0]
    assert message["role"] == "assistant" and message["content"] == "one two" and message["done"] is True
    assert "one two" in message["reasoning_content"]
    assert data["usage"]["output_tokens"] > 0


def test_missing_version_header_is_an_http_200_bad_request(client: WebClient) -> None:
    reply = client.complete("hi", headers=client.auth)
    assert reply.status == 200
    body = orjson.loads(reply.text)
    assert body["success"] is False and body["code"] == "Bad_Request"
    wrong = client.complete("hi", headers={**client.auth, "version": "0.1.0"})
    assert orjson.loads(wrong.text)["code"] == "Bad_Request"


def test_a_chat_runs_one_completion_at_a_time(client: WebClient) -> None:
    chat = client.new_chat()
    first: list[str] = []
    runner = threading.Thread(
        target=lambda: first.append(
            client.complete('go [[emulator:{"silence": 3}]]', chat_id=chat).answer()
        )
    )
    runner.start()
    deadline = time.monotonic() + 5
    while client.stats()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    second = client.complete("again", chat_id=chat)
    assert second.status == 200
    assert orjson.loads(second.text) == {
        "success": False,
        "request_id": orjson.loads(second.text)["request_id"],
        "data": {"code": "Bad_Request", "details": "The chat is in progress!"},
    }
    other_chat = client.complete("meanwhile")
    assert other_chat.answer() == "meanwhile"
    runner.join()
    assert first == ["go"]
    deadline = time.monotonic() + 5  # the server marks the chat idle just after the last byte is read
    while client.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.complete("again", chat_id=chat).answer() == "again"


def test_chats_belong_to_their_account_and_can_be_deleted(client: WebClient, emu: str) -> None:
    chat = client.new_chat()
    other = WebClient(emu, 1)
    other.signin()
    assert other.complete("hi", chat_id=chat).status == 404
    assert other.http.delete(f"/api/v2/chats/{chat}", headers=other.auth).status_code == 404
    assert client.http.delete(f"/api/v2/chats/{chat}", headers=client.auth).json()["success"] is True
    assert client.complete("hi", chat_id=chat).status == 404
    assert client.http.post("/api/v2/chats/new", json={}).status_code == 401
    other.close()


def test_unknown_model_and_malformed_bodies_are_refused(client: WebClient) -> None:
    missing = client.complete("hi", model="gpt-4o")
    assert missing.status == 404
    assert orjson.loads(missing.text)["data"]["code"] == "Model_Not_Found"
    chat = client.new_chat()
    body = completion_body(chat, "hi")
    body["messages"] = []
    response = client.http.post(
        "/api/v2/chat/completions", params={"chat_id": chat}, json=body, headers={**client.auth, **VERSION}
    )
    assert response.status_code == 200
    assert response.json()["data"]["code"] == "Bad_Request"
    errors = client.stats()["accounts"][email(0)]["errors"]
    assert errors == {"model_not_found": 1, "invalid_body": 1}
