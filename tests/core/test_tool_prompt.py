"""Rendering tools, calls and results into Hermes-style prompt text, from the editable template file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_server.core import shared_data
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import ToolCall, ToolSpec
from qwen_server.core.tool_prompt import (
    TEMPLATE_FILE,
    ToolChoice,
    render_assistant_tool_calls,
    render_tool_result,
    render_tools_system_prompt,
    resolve_tool_choice,
    stronger_instruction,
)
from qwen_server.core.toolcalls import parse_complete

WEATHER = ToolSpec(
    "get_weather",
    "Current weather for a city — Celsius",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = ToolSpec("now")
TOOLS = [WEATHER, CLOCK]
CALL_FORMAT = '<tool_call>\n{"name": <function-name>, "arguments": <arguments-json-object>}\n</tool_call>'


def _clear_shared_caches() -> None:
    shared_data.shared_dir.cache_clear()
    shared_data.load_text.cache_clear()


@pytest.fixture
def template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A scratch shared folder holding a copy of the real template, to edit in a test."""
    real = shared_data.shared_dir() / TEMPLATE_FILE
    path = tmp_path / TEMPLATE_FILE
    path.parent.mkdir(parents=True)
    path.write_text(real.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("QWEN_SERVER_SHARED_DIR", str(tmp_path))
    _clear_shared_caches()
    yield path
    monkeypatch.delenv("QWEN_SERVER_SHARED_DIR")
    _clear_shared_caches()


def _signatures(prompt: str) -> list[dict[str, Any]]:
    inside = prompt.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    return [json.loads(line) for line in inside.splitlines()]


# ---- tool_choice ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_choice", "expected"),
    [
        (None, ToolChoice("auto")),
        ("auto", ToolChoice("auto")),
        ("none", ToolChoice("none")),
        ("required", ToolChoice("required")),
        ("any", ToolChoice("required")),
        ({"type": "auto"}, ToolChoice("auto")),
        ({"type": "any"}, ToolChoice("required")),
        ({"type": "none"}, ToolChoice("none")),
        ({"name": "f"}, ToolChoice("named", "f")),
        ({"type": "function", "function": {"name": "f"}}, ToolChoice("named", "f")),
        ({"type": "tool", "name": "f"}, ToolChoice("named", "f")),
        (ToolChoice("named", "g"), ToolChoice("named", "g")),
    ],
)
def test_resolve_tool_choice(given_choice: Any, expected: ToolChoice) -> None:
    assert resolve_tool_choice(given_choice) == expected


@pytest.mark.parametrize("bad", ["sometimes", "", {"type": "function"}, {"function": "f"}, {}])
def test_unknown_tool_choice_is_an_invalid_request(bad: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        resolve_tool_choice(bad)
    assert info.value.param == "tool_choice"


def test_requires_call() -> None:
    assert [ToolChoice(m).requires_call for m in ("auto", "none", "required")] == [False, False, True]
    assert ToolChoice("named", "f").requires_call


# ---- the system prompt ------------------------------------------------------------------------------------------


def test_auto_lists_every_signature_and_the_call_format() -> None:
    prompt = render_tools_system_prompt(TOOLS)
    assert prompt.startswith("# Tools\n")
    assert _signatures(prompt) == [
        {
            "type": "function",
            "function": {
                "name": WEATHER.name,
                "description": WEATHER.description,
                "parameters": WEATHER.parameters,
            },
        },
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
    ]
    assert CALL_FORMAT in prompt
    assert "must" not in prompt and "at most one" not in prompt
    assert "— Celsius" in prompt  # not \u-escaped


def test_auto_is_the_default_and_parallel_is_the_default() -> None:
    assert render_tools_system_prompt(TOOLS) == render_tools_system_prompt(TOOLS, "auto", True)


def test_required_adds_the_must_call_instruction() -> None:
    prompt = render_tools_system_prompt(TOOLS, "required")
    assert prompt.startswith(render_tools_system_prompt(TOOLS))
    assert "must call at least one" in prompt
    assert "at most one" not in prompt


def test_not_parallel_adds_at_most_one() -> None:
    prompt = render_tools_system_prompt(TOOLS, "auto", parallel=False)
    assert "at most one function per reply" in prompt
    both = render_tools_system_prompt(TOOLS, "required", parallel=False)
    assert "must call at least one" in both and "at most one function per reply" in both


def test_named_lists_only_that_tool_and_demands_exactly_it() -> None:
    prompt = render_tools_system_prompt(TOOLS, {"type": "function", "function": {"name": "now"}})
    assert [s["function"]["name"] for s in _signatures(prompt)] == ["now"]
    assert "must call the function `now`, exactly once" in prompt
    assert "at least one" not in prompt


def test_named_unknown_tool_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        render_tools_system_prompt(TOOLS, {"name": "missing"})


def test_none_leaves_the_tools_out_and_says_so() -> None:
    prompt = render_tools_system_prompt(TOOLS, "none")
    assert "<tools>" not in prompt and "get_weather" not in prompt
    assert "turned off" in prompt


def test_no_tools_means_no_prompt() -> None:
    assert render_tools_system_prompt([]) == ""
    assert render_tools_system_prompt([], "none") == ""


@pytest.mark.parametrize("choice", ["required", {"name": "f"}])
def test_a_required_call_without_tools_is_an_invalid_request(choice: Any) -> None:
    with pytest.raises(InvalidRequest):
        render_tools_system_prompt([], choice)


# ---- history: calls and results -----------------------------------------------------------------------------------


def test_assistant_calls_render_as_tool_call_blocks() -> None:
    calls = [ToolCall("c1", "get_weather", '{"city": "Paris"}'), ToolCall("c2", "now", "")]
    assert render_assistant_tool_calls(calls) == (
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>'
    )


def test_valid_arguments_are_spliced_verbatim() -> None:
    arguments = '{\n  "n": 1.50,\n  "s": "\\u00e9"\n}'
    rendered = render_assistant_tool_calls([ToolCall("c", "f", arguments)])
    assert f'"arguments": {arguments}}}' in rendered


def test_lenient_arguments_are_repaired_and_garbage_is_quoted() -> None:
    repaired = render_assistant_tool_calls([ToolCall("c", "f", "{'a': True,}")])
    assert '"arguments": {"a": true}}' in repaired
    garbage = render_assistant_tool_calls([ToolCall("c", "f", "not json")])
    assert '"arguments": "not json"}' in garbage


def test_no_calls_render_as_nothing() -> None:
    assert render_assistant_tool_calls([]) == ""


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,10}", fullmatch=True),
            st.dictionaries(st.text(max_size=5), _json_values, max_size=4),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_property_rendered_calls_parse_back_to_the_same_calls(
    calls: list[tuple[str, dict[str, Any]]],
) -> None:
    rendered = render_assistant_tool_calls([ToolCall("c", n, json.dumps(a)) for n, a in calls])
    text, parsed = parse_complete(rendered)
    assert text == []
    assert [(c.name, json.loads(c.arguments)) for c in parsed] == calls


def test_tool_result_is_a_tool_response_block() -> None:
    assert (
        render_tool_result('{"temp": 21}', "call_1", "get_weather")
        == '<tool_response>\n{"temp": 21}\n</tool_response>'
    )


def test_tool_result_content_is_not_expanded_as_a_template() -> None:
    assert (
        render_tool_result("{{name}} {{content}}", "c", "f")
        == "<tool_response>\n{{name}} {{content}}\n</tool_response>"
    )


# ---- retry instruction ----------------------------------------------------------------------------------------------


def test_stronger_instruction() -> None:
    assert stronger_instruction(None) == stronger_instruction("auto") == stronger_instruction("none") == ""
    assert "function call is required" in stronger_instruction("required")
    named = stronger_instruction({"type": "tool", "name": "get_weather"})
    assert "`get_weather`" in named and '{"name": "get_weather"' in named


# ---- the template file ------------------------------------------------------------------------------------------------


def test_the_wording_comes_from_the_template_file(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    template.write_text(
        text.replace("# Tools", "# Functions").replace(
            "<tool_response>\n{{content}}", "<tool_response>\n{{name}}={{content}}"
        ),
        encoding="utf-8",
    )
    _clear_shared_caches()
    assert render_tools_system_prompt(TOOLS).startswith("# Functions\n")
    assert render_tool_result("42", "c", "f") == "<tool_response>\nf=42\n</tool_response>"


def test_a_missing_section_names_itself(template: Path) -> None:
    template.write_text("<!-- @tools -->\nonly {{tools}}\n", encoding="utf-8")
    _clear_shared_caches()
    assert render_tools_system_prompt(TOOLS, "auto").startswith("only {")
    with pytest.raises(KeyError, match="single"):
        render_tools_system_prompt(TOOLS, "auto", parallel=False)


def test_the_shipped_template_has_every_section_with_the_exact_tags() -> None:
    cases: list[tuple[str | dict[str, Any], bool]] = [
        ("auto", True),
        ("required", False),
        ({"name": "now"}, True),
        ("none", True),
    ]
    for choice, parallel in cases:
        assert render_tools_system_prompt(TOOLS, choice, parallel)
    for retry in ("required", {"name": "now"}):
        assert "<tool_call>" in stronger_instruction(retry)
    prompt = render_tools_system_prompt(TOOLS)
    assert "<tools>\n" in prompt and "\n</tools>" in prompt
    assert "{{" not in prompt
