"""The one message a fresh web chat receives: a stable layout of the whole conversation."""

from __future__ import annotations

from qwen_server.core.model import MediaPart, Message, TextPart, ToolCall
from qwen_server.providers.qwen_web.prompt import FRAMING_NOTE, flatten


def test_a_lone_user_message_is_sent_as_is() -> None:
    assert flatten([Message("user", [TextPart("hi there")])]) == "hi there"


def test_history_with_system_tools_and_results() -> None:
    messages = [
        Message("system", [TextPart("Be brief.")]),
        Message(
            "user", [TextPart("Weather?"), MediaPart("image", url="https://x/y.png", filename="image-1.png")]
        ),
        Message("assistant", [], tool_calls=[ToolCall("call_1", "get_weather", '{"city": "Paris"}')]),
        Message("tool", [TextPart("18C")], tool_call_id="call_1", name="get_weather"),
    ]
    text = flatten(messages, system_extra="# Tools ...", nonce="ab12")
    blocks = text.split("\n\n[")
    assert blocks[0] == "[system #ab12]\nBe brief.\n\n# Tools ...\n\n" + FRAMING_NOTE.format(nonce="ab12")
    assert blocks[1] == "user #ab12]\nWeather?\n[image: image-1.png]"
    assert blocks[2].startswith("assistant #ab12]\n<tool_call>") and '"name": "get_weather"' in blocks[2]
    assert blocks[2].rstrip().endswith("</tool_call>")
    assert blocks[3] == "tool_result #ab12 id=call_1]\n<tool_response>\n18C\n</tool_response>"


def test_system_extra_alone_makes_a_system_block() -> None:
    note = FRAMING_NOTE.format(nonce="n1")
    assert flatten([Message("user", [TextPart("q")])], system_extra="rules", nonce="n1") == (
        f"[system #n1]\nrules\n\n{note}\n\n[user #n1]\nq"
    )


def test_text_blocks_are_not_glued_together() -> None:
    reminder = Message(
        "user", [TextPart("<system-reminder>be careful</system-reminder>"), TextPart("Fix it.")]
    )
    assert flatten([reminder]) == "<system-reminder>be careful</system-reminder>\nFix it."
    spaced = Message("user", [TextPart("second "), TextPart("question")])
    assert flatten([spaced]) == "second question"


def test_message_names_reach_the_prompt() -> None:
    messages = [
        Message("system", [TextPart("Moderate politely.")], name="house_rules"),
        Message("user", [TextPart("I say yes.")], name="alice"),
        Message("user", [TextPart("I say no.")], name="bob"),
        Message("assistant", [TextPart("Noted.")], name="moderator"),
    ]
    assert flatten(messages, nonce="n2") == (
        f"[system #n2]\n(house_rules) Moderate politely.\n\n{FRAMING_NOTE.format(nonce='n2')}\n\n"
        "[user #n2 name=alice]\nI say yes.\n\n[user #n2 name=bob]\nI say no.\n\n"
        "[assistant #n2 name=moderator]\nNoted."
    )


def test_a_lone_named_user_message_keeps_its_name() -> None:
    assert (
        flatten([Message("user", [TextPart("hi")], name="carol")], nonce="n3") == "[user #n3 name=carol]\nhi"
    )


def test_each_request_draws_its_own_nonce() -> None:
    messages = [Message("system", [TextPart("s")]), Message("user", [TextPart("u")])]
    assert flatten(messages).split("\n")[0] != flatten(messages).split("\n")[0]
