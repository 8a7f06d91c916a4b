"""The emulator's pure parts, without a server: directives, replies, timelines, tokens, knobs, the wall."""

from __future__ import annotations

import random

import orjson
import pytest

from qwen_server.emulator import protocol, timeline
from qwen_server.emulator.accounts import AccountBook
from qwen_server.emulator.completion_request import parse_completion
from qwen_server.emulator.directives import Script, find_script, strip_directives
from qwen_server.emulator.faults import pick_fault
from qwen_server.emulator.knobs import KnobBook, Knobs, parse_knob_fields
from qwen_server.emulator.replies import count_tokens, last_user_text, plan_reply, split_pieces
from qwen_server.emulator.signin_wall import SigninWall
from qwen_server.emulator.tokens import TokenIssuer


def test_directive_parsing_respects_strings_and_takes_the_last_valid_one() -> None:
    text = (
        'a [[emulator:{"reply": "x}]] {y"}]] b [[emulator:{"reply": "z"}]] c [[emulator:{"error": "nope"}]]'
    )
    assert find_script(text) == Script(reply="z")
    assert strip_directives(text) == 'a  b  c [[emulator:{"error": "nope"}]]'
    assert find_script("no directive") is None
    assert find_script("[[emulator:{unclosed") is None


@pytest.mark.parametrize("text", ["Hello  world\n\nagain ", "  lead", "one", "", "a\tb\nc  "])
def test_pieces_join_back_exactly(text: str) -> None:
    pieces = split_pieces(text)
    assert "".join(pieces) == text
    assert all(p.strip() for p in pieces[:-1])


def test_last_user_text_of_the_flattened_layout() -> None:
    content = (
        "[system]\nS\n\n[user]\nfirst\n\n[assistant]\nA\n\n"
        "[user]\n[user] inline\nsecond\n\n[tool_result id=7]\nR"
    )
    assert last_user_text(content) == "[user] inline\nsecond"
    assert last_user_text("[system]\nonly system") == ""
    assert last_user_text("  no headers ") == "no headers"


def test_plan_defaults_to_echo_and_scripts_override_parts() -> None:
    plan = plan_reply("hello you", None, thinking=False, thinking_budget=None)
    assert plan.answer == ("hello", " you") and plan.think == () and plan.input_tokens == 3
    scripted = plan_reply("q", Script(chunks=("a", "b"), thinking="t"), thinking=True, thinking_budget=None)
    assert scripted.answer == ("a", "b") and scripted.think == ("t",)
    assert "".join(plan_reply("   ", None, False, None).answer) == "(empty message)"
    assert plan_reply("q", Script(reply=""), False, None).answer == ()
    assert count_tokens(0) == 0 and count_tokens(1) == 1 and count_tokens(9) == 3


def _events(line: timeline.Timeline) -> list[dict[str, object]]:
    return [orjson.loads(step.data[6:]) for step in line.steps]


def test_timeline_orders_phases_and_charges_latencies() -> None:
    plan = plan_reply("a b c d", Script(thinking="hm ok", silence=1.0, silence_mid=2.0), True, None)
    line = timeline.build(
        plan, Knobs(first_token_latency=0.5, token_latency=0.1), timeline.Ids("c", "p", "r")
    )
    waits = [step.wait for step in line.steps]
    assert waits == [0.0, 0.5, 0.1, 0.0, 1.1, 0.1, 2.1, 0.1, 0.0]
    deltas = [e["choices"][0]["delta"] for e in _events(line)[1:]]  # type: ignore[index]
    assert [(d["phase"], d["status"]) for d in deltas] == [
        ("think", "typing"), ("think", "typing"), ("think", "finished"),
        *[("answer", "typing")] * 4, ("answer", "finished"),
    ]  # fmt: skip
    assert line.complete and line.answer == "a b c d" and line.think == "hm ok"


def test_timeline_cuts_drops_and_in_stream_errors_after_a_few_pieces() -> None:
    ids, knobs = timeline.Ids("c", "p", "r"), Knobs()
    dropped = timeline.build(plan_reply("1 2 3 4 5 6", Script(error="drop"), False, None), knobs, ids)
    assert not dropped.complete and dropped.answer == "1 2 3"
    broken = timeline.build(plan_reply("1 2", Script(error="in_stream"), False, None), knobs, ids)
    assert broken.complete and broken.answer == "1" and "error" in _events(broken)[-1]
    assert timeline.cut_point(1) == 1 and timeline.cut_point(100) == 3


def test_tokens_verify_expire_and_revoke() -> None:
    now = [1_000_000.0]
    book = AccountBook(2)
    issuer = TokenIssuer(b"k" * 32, book, clock=lambda: now[0])
    token, exp = issuer.mint(book.all[1])
    assert exp == 1_000_000 + 30 * 86400
    assert issuer.resolve(token) is book.all[1]
    assert TokenIssuer(b"k" * 32, book, clock=lambda: now[0]).resolve(token) is book.all[1]  # same secret
    assert TokenIssuer(b"x" * 32, book).resolve(token) is None
    issuer.revoke(book.all[0])
    assert issuer.resolve(token) is book.all[1]
    issuer.revoke(book.all[1])
    assert issuer.resolve(token) is None
    fresh, _ = issuer.mint(book.all[1])
    now[0] += 31 * 86400
    assert issuer.resolve(fresh) is None


def test_signin_wall_forgets_after_the_window() -> None:
    now = [0.0]
    wall = SigninWall(2, window=2.0, clock=lambda: now[0])
    assert [wall.admit("ip") for _ in range(3)] == [True, True, False]
    assert wall.admit("other")
    now[0] = 2.5
    assert wall.admit("ip")


def test_knobs_validate_and_merge_per_account() -> None:
    with pytest.raises(ValueError, match="unknown knob"):
        parse_knob_fields({"speed": 1})
    with pytest.raises(ValueError, match="out of range"):
        parse_knob_fields({"drop": 1.5})
    with pytest.raises(ValueError, match="number"):
        parse_knob_fields({"hang": True})
    book = KnobBook(Knobs(token_latency=0.1), {1: {"fail_500": 1.0}})
    assert book.for_account(1) == Knobs(token_latency=0.1, fail_500=1.0)
    book.update(None, {"token_latency": 0.2})
    assert book.for_account(1).token_latency == 0.2 and book.for_account(0).fail_500 == 0.0
    book.restore()
    assert book.for_account(0) == Knobs(token_latency=0.1)


def test_fault_draws_replay_with_a_seed() -> None:
    knobs = Knobs(fail_500=0.3, drop=0.3)
    draws = []
    for _ in range(2):
        rng = random.Random(5)
        draws.append([pick_fault(knobs, rng) for _ in range(50)])
    assert draws[0] == draws[1] and {None, "500", "drop"} <= set(draws[0])
    assert pick_fault(Knobs(), random.Random(1)) is None
    assert pick_fault(Knobs(hang=1.0, fail_500=1.0), random.Random(1)) == "hang"


def test_completion_body_validation() -> None:
    good: dict[str, object] = {
        "stream": True,
        "chat_id": "c",
        "model": "m",
        "messages": [{"content": "hi", "chat_type": "t2t"}],
    }
    parsed = parse_completion(good, "c")
    assert parsed.content == "hi" and not parsed.thinking and not parsed.incremental
    broken: object
    for broken in (
        {**good, "chat_id": "other"},
        {**good, "messages": []},
        {**good, "stream": "yes"},
        {**good, "messages": [{"content": "hi", "chat_type": "t2v"}]},
        {**good, "messages": [{"content": "hi", "feature_config": {"thinking_enabled": "on"}}]},
        [],
    ):
        with pytest.raises(ValueError):
            parse_completion(broken, "c")


def test_protocol_shapes() -> None:
    delta = orjson.loads(protocol.delta_event("x", "answer", "typing", "r", None)[6:])
    assert delta == {"choices": [{"delta": {"role": "assistant", "content": "x", "phase": "answer",
                                             "status": "typing"}}], "response_id": "r"}  # fmt: skip
    assert protocol.sse({"a": 1}) == b'data: {"a":1}\n\n'
    assert protocol.missing_version()["code"] == "Bad_Request"
