"""The input-token estimate behind count_tokens and message_start."""

from __future__ import annotations

from qwen_server.api.anthropic.count import IMAGE_TOKENS, count_input_tokens
from qwen_server.core.model import ImagePart, Message, TextPart, ToolCall, ToolSpec


def test_english_is_about_four_characters_a_token_plus_framing() -> None:
    text = "abcd" * 100
    assert count_input_tokens([Message("user", [TextPart(text)])], []) == 100 + 4 + 3


def test_cjk_counts_a_token_a_character() -> None:
    assert count_input_tokens([Message("user", [TextPart("你好世界")])], []) == 4 + 4 + 3


def test_images_tool_calls_and_tools_add_up() -> None:
    base = count_input_tokens([Message("user", [TextPart("look")])], [])
    with_image = count_input_tokens(
        [Message("user", [TextPart("look"), ImagePart("data:image/png;base64,AA")])], []
    )
    assert with_image == base + IMAGE_TOKENS
    call = Message("assistant", [], tool_calls=[ToolCall("t1", "get_weather", '{"city": "Paris"}')])
    assert count_input_tokens([call], []) > count_input_tokens([Message("assistant", [])], [])
    tool = ToolSpec(
        "get_weather", "Weather by city", {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    assert count_input_tokens([], [tool]) > count_input_tokens([], []) + 10
