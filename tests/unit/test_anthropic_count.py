"""The input-token count behind count_tokens and message_start: Qwen's tokenizer plus ChatML framing."""

from __future__ import annotations

import orjson

from qwen_server.api.anthropic.count import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    REPLY_OVERHEAD,
    TOOL_OVERHEAD,
    count_input_tokens,
)
from qwen_server.core.model import MediaPart, Message, TextPart, ToolCall, ToolSpec
from qwen_server.core.qwen_vocab import encoding
from qwen_server.core.tokens import count_tokens


def test_the_framing_is_qwens_chat_template() -> None:
    """The overhead constants are what the template's special tokens and role lines really cost."""
    enc = encoding()
    assert enc is not None
    system, user = "You are terse.", "Say hi, 你好."
    rendered = (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )
    messages = [Message("system", [TextPart(system)]), Message("user", [TextPart(user)])]
    assert count_input_tokens(messages, []) == len(enc.encode(rendered, allowed_special="all"))


def test_english_and_cjk_count_in_the_vocabulary() -> None:
    for text in ("abcd" * 100, "你好世界。今天天气很好。"):
        expected = count_tokens(text) + MESSAGE_OVERHEAD + REPLY_OVERHEAD
        assert count_input_tokens([Message("user", [TextPart(text)])], []) == expected
    assert count_input_tokens([Message("user", [TextPart("你好世界")])], []) == 2 + 5 + 3


def test_images_tool_calls_and_tools_add_up() -> None:
    base = count_input_tokens([Message("user", [TextPart("look")])], [])
    with_image = count_input_tokens(
        [Message("user", [TextPart("look"), MediaPart("image", data=b"\x89PNG\r\n\x1a\n")])], []
    )
    assert with_image == base + IMAGE_TOKENS
    call = Message("assistant", [], tool_calls=[ToolCall("t1", "get_weather", '{"city": "Paris"}')])
    assert count_input_tokens([call], []) == count_input_tokens(
        [Message("assistant", [])], []
    ) + count_tokens(orjson.dumps({"name": "get_weather", "arguments": '{"city": "Paris"}'}).decode())
    tool = ToolSpec(
        "get_weather", "Weather by city", {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    spec = orjson.dumps({"name": tool.name, "description": tool.description, "parameters": tool.parameters})
    assert count_input_tokens([], [tool]) == REPLY_OVERHEAD + TOOL_OVERHEAD + count_tokens(spec.decode())
