"""The emulator's model-like answers, on prompts the gateway itself renders (`flatten`, the tool prompt, the
JSON instruction): schema-valid JSON from the request, a tool call only when the request asks for what a tool
does, read-only actions for shells and file tools, a report after tool results, the echo otherwise."""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
import pytest
from pydantic import BaseModel

from qwen_server.core import structured
from qwen_server.core.model import Message, TextPart, ToolCall, ToolSpec
from qwen_server.core.tool_prompt import render_tools_system_prompt, stronger_instruction
from qwen_server.emulator.directives import script_from_dict
from qwen_server.emulator.prompt_facts import facts_of
from qwen_server.emulator.prompt_reading import read
from qwen_server.emulator.replies import plan_reply
from qwen_server.emulator.respond import compose
from qwen_server.emulator.schema_fill import fill
from qwen_server.providers.qwen_web.prompt import flatten

WEATHER = ToolSpec(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
READ = ToolSpec(
    "Read",
    "Reads a file from the local filesystem.\n- `file_path` must be an absolute path.",
    {
        "type": "object",
        "properties": {"file_path": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["file_path"],
    },
)
BASH = ToolSpec(
    "Bash",
    "Executes a bash command and returns its output.",
    {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
)
WRITE = ToolSpec(
    "Write",
    "Writes a file to the local filesystem, overwriting if one exists.",
    {
        "type": "object",
        "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["file_path", "content"],
    },
)
SHELL_ARRAY = ToolSpec(
    "shell",
    "Runs a shell command and returns its output.",
    {
        "type": "object",
        "properties": {"command": {"type": "array", "items": {"type": "string"}}, "workdir": {"type": "string"}},
        "required": ["command"],
    },
)


def agent_tools() -> list[ToolSpec]:
    """Twenty tools as a coding agent offers them: readers, writers, a shell, schedulers, searchers."""
    verbs = ["Create", "Update", "Delete", "Send", "Schedule", "Launch", "Stop", "Cancel", "Edit", "Move"]
    nouns = ["Task", "Cron", "Message", "Agent", "Worktree", "Notebook", "Workflow", "Goal", "Note", "Skill"]
    made = [
        ToolSpec(f"{noun}{verb}", f"{verb}s a {noun.lower()}.", {"type": "object", "properties": {}})
        for verb, noun in zip(verbs, nouns, strict=True)
    ]
    made += [
        ToolSpec("TaskList", "Use this tool to list all tasks in the task list.", {"type": "object"}),
        ToolSpec("WebSearch", "Search the web. Returns result blocks with titles and URLs.", {"type": "object"}),
        ToolSpec("WebFetch", "Fetches a URL and answers a prompt against it.", {"type": "object"}),
        ToolSpec("ReportFindings", "Report code-review findings as a typed list.", {"type": "object"}),
    ]
    return [READ, BASH, WRITE, *made, SHELL_ARRAY, WEATHER, ToolSpec("Glob", "Fast file pattern matching tool.")]


def conversation(
    *messages: Message,
    tools: list[ToolSpec] | None = None,
    tool_choice: Any = None,
    response_format: dict[str, Any] | None = None,
    system: str = "",
    retry: str = "",
) -> str:
    """The one message a web account receives, exactly as the gateway flattens it (`retry`: the stronger
    instruction of the contract's second attempt)."""
    extra = []
    if tools:
        extra.append(render_tools_system_prompt(tools, tool_choice))
    if response_format:
        extra.append(structured.instruction(response_format))
    if retry:
        extra.append(retry)
    history = [Message("system", [TextPart(system)])] if system else []
    return flatten([*history, *messages], system_extra="\n\n".join(extra))


def user(text: str) -> Message:
    return Message("user", [TextPart(text)])


def call_in(text: str) -> dict[str, Any]:
    assert text.startswith("<tool_call>\n") and text.endswith("\n</tool_call>"), text
    found: dict[str, Any] = json.loads(text.removeprefix("<tool_call>\n").removesuffix("\n</tool_call>"))
    return found


# ---- reading the gateway's prompt ---------------------------------------------------------------------


def test_the_gateway_prompt_is_read_back() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    prompt = conversation(
        user("first question"),
        Message("assistant", [TextPart("an answer")]),
        user("<system-reminder>\nToday is Monday.\n</system-reminder>\ncount the sheep"),
        tools=[WEATHER, READ],
        tool_choice="required",
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
        system="Primary working directory: /home/me/project",
    )
    reading = read(prompt)
    assert [t.name for t in reading.tools] == ["get_weather", "Read"]
    assert reading.tools[0].parameters == WEATHER.parameters
    assert reading.choice == "required" and reading.wants_json and reading.schema == schema
    assert reading.request == "count the sheep", "the harness reminder is not the request"
    assert reading.cwd == "/home/me/project"
    named = read(conversation(user("x"), tools=[WEATHER, READ], tool_choice={"name": "Read"}))
    assert (named.choice, named.named, [t.name for t in named.tools]) == ("named", "Read", ["Read"])
    assert read(conversation(user("x"), tools=[WEATHER], tool_choice="none")).choice == "none"
    retry = read(conversation(user("x"), tools=[WEATHER], retry=stronger_instruction({"name": "get_weather"})))
    assert (retry.choice, retry.named) == ("named", "get_weather")


def test_a_plain_message_is_one_user_turn_and_nothing_to_do() -> None:
    assert compose("hello") is None
    assert read("hello").request == "hello"


# ---- JSON ---------------------------------------------------------------------------------------------


class Person(BaseModel):
    name: str
    age: int
    city: str


class Review(BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    score: float
    recommended: bool
    summary: str | None = None
    tags: list[str]


class Team(BaseModel):
    members: list[Person]
    founded: int


@pytest.mark.parametrize(
    ("model", "request_text", "expected"),
    [
        (Person, "Alice is 30 years old and lives in Paris.", {"name": "Alice", "age": 30, "city": "Paris"}),
        (Review, "A negative review: slow, noisy and expensive. Score 2.5, not recommended.", None),
        (Team, "Alice is 31 and Bob is 25; the team was founded in 2019.", None),
    ],
)
def test_a_pydantic_schema_gets_valid_json_from_the_request(
    model: type[BaseModel], request_text: str, expected: dict[str, Any] | None
) -> None:
    schema = model.model_json_schema()
    prompt = conversation(
        user(request_text), response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    )
    composed = compose(prompt)
    assert composed is not None
    value = model.model_validate_json(composed.text)  # what `parse` does with it
    if expected is not None:
        assert value.model_dump() == expected
    if isinstance(value, Review):
        assert value.sentiment == "negative" and value.score == 2.5 and value.recommended is False
        assert value.tags == ["slow", "noisy", "expensive"]
    if isinstance(value, Team):
        assert [(m.name, m.age) for m in value.members] == [("Alice", 31), ("Bob", 25)]
        assert value.founded == 2019
    assert compose(prompt) == composed, "deterministic"


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string", "minLength": 20, "maxLength": 25}}},
        {"type": "object", "properties": {"n": {"type": "integer", "minimum": 10, "maximum": 12}}},
        {"type": "object", "properties": {"x": {"type": "number", "exclusiveMinimum": 3, "multipleOf": 0.5}}},
        {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3, "uniqueItems": True},
        {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}}, "required": ["when"]},
        {"type": "object", "properties": {"mail": {"type": "string", "format": "email"}}, "required": ["mail"]},
        {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}}, "required": ["id"]},
        {"oneOf": [{"type": "null"}, {"type": "object", "properties": {"k": {"const": "v"}}, "required": ["k"]}]},
        {"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"required": ["b"]}]},
        {
            "$defs": {"Node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
            "$ref": "#/$defs/Node",
        },
        {"type": ["null", "boolean"]},
        {"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
        {"enum": ["red", "green", "blue"]},
    ],
)
def test_schema_features_validate(schema: dict[str, Any]) -> None:
    value = fill(schema, facts_of("Pick green, for the party on 2025-03-04 with 7 guests: x@y.org"))
    jsonschema.validate(value, schema)


def test_json_mode_without_a_schema() -> None:
    def answer(text: str) -> Any:
        composed = compose(conversation(user(text), response_format={"type": "json_object"}))
        assert composed is not None
        return json.loads(composed.text)

    assert answer('Repeat {"a": [1, 2]} please') == {"a": [1, 2]}
    asked = 'Describe "Spirited Away" (2001) by Hayao Miyazaki as JSON with keys title, year and director.'
    assert answer(asked) == {"title": "Spirited Away", "year": 2001, "director": "Hayao Miyazaki"}
    assert answer("hello") == {"answer": "hello"}


# ---- tools --------------------------------------------------------------------------------------------


def test_hello_gets_text_even_with_twenty_tools() -> None:
    tools = agent_tools()
    assert len(tools) >= 20
    assert compose(conversation(user("hello"), tools=tools)) is None
    assert compose(conversation(user("hello from claude code"), tools=tools)) is None
    assert compose(conversation(user("Write me a haiku about autumn"), tools=tools)) is None


def test_a_named_file_is_read_with_a_reader_as_an_absolute_path() -> None:
    prompt = conversation(
        user("what is in notes.txt?"), tools=agent_tools(), system=" - Primary working directory: /work/demo"
    )
    composed = compose(prompt)
    assert composed is not None
    assert call_in(composed.text) == {"name": "Read", "arguments": {"file_path": "/work/demo/notes.txt"}}
    assert "Read" in composed.thought


def test_a_shell_only_gets_read_only_commands() -> None:
    composed = compose(conversation(user("show me src/app.py"), tools=[BASH, WRITE]))
    assert composed is not None and call_in(composed.text) == {
        "name": "Bash",
        "arguments": {"command": "cat src/app.py"},
    }
    listing = compose(conversation(user("which files are in this folder?"), tools=[BASH]))
    assert listing is not None and call_in(listing.text)["arguments"] == {"command": "ls -la"}
    folder = compose(conversation(user("list the directory docs/"), tools=[SHELL_ARRAY]))
    assert folder is not None
    assert call_in(folder.text)["arguments"] == {"command": ["bash", "-lc", "ls -la docs/"]}
    # asked to change things, the emulator still only reads what the request names
    fix = compose(conversation(user("delete notes.txt and write a new one"), tools=[WRITE, BASH]))
    assert fix is not None and call_in(fix.text)["arguments"] == {"command": "cat notes.txt"}
    assert compose(conversation(user("delete everything"), tools=[WRITE, BASH])) is None


def test_a_tool_is_called_when_its_name_matches_with_arguments_from_the_request() -> None:
    composed = compose(conversation(user("What is the weather in Paris?"), tools=agent_tools()))
    assert composed is not None
    assert call_in(composed.text) == {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert compose(conversation(user("What is the weather in Paris?"), tools=[WEATHER], tool_choice="none")) is None


def test_tool_choice_forces_a_call() -> None:
    required = compose(conversation(user("hello"), tools=[WRITE, WEATHER], tool_choice="required"))
    assert required is not None and call_in(required.text)["name"] == "get_weather", "the harmless one"
    named = compose(conversation(user("hello"), tools=[WRITE, WEATHER], tool_choice={"name": "Write"}))
    assert named is not None
    arguments = call_in(named.text)["arguments"]
    assert call_in(named.text)["name"] == "Write" and set(arguments) == {"file_path", "content"}
    jsonschema.validate(arguments, WRITE.parameters)


def test_after_a_tool_result_the_answer_reports_it() -> None:
    question = user("What number is in notes.txt?")
    called = Message("assistant", [], tool_calls=[ToolCall("c1", "Read", '{"file_path": "/w/notes.txt"}')])
    result = Message("tool", [TextPart("     1→the secret number is 4172\n     2→")], tool_call_id="c1")
    composed = compose(conversation(question, called, result, tools=[READ, BASH]))
    assert composed is not None and composed.text == "`notes.txt` contains: the secret number is 4172"
    called = Message("assistant", [], tool_calls=[ToolCall("c2", "get_weather", '{"city": "Oslo"}')])
    result = Message("tool", [TextPart('{"sky": "sunny", "celsius": 21}')], tool_call_id="c2")
    weather = compose(conversation(user("Weather in Oslo?"), called, result, tools=[WEATHER]))
    assert weather is not None
    assert weather.text == 'The get_weather tool returned: {"sky": "sunny", "celsius": 21}'


# ---- how it fits the reply plan -------------------------------------------------------------------------


def test_scripts_and_the_echo_directive_win() -> None:
    prompt = conversation(user("What is the weather in Paris?"), tools=[WEATHER])
    modelled = plan_reply(prompt, None, thinking=True, thinking_budget=None)
    assert "".join(modelled.answer).startswith("<tool_call>")
    assert "get_weather" in "".join(modelled.think)
    echoed = plan_reply(prompt, script_from_dict({"echo": True}), thinking=False, thinking_budget=None)
    assert "".join(echoed.answer) == "What is the weather in Paris?"
    scripted = plan_reply(prompt, script_from_dict({"reply": "Sunny."}), thinking=False, thinking_budget=None)
    assert "".join(scripted.answer) == "Sunny."


def test_a_conversation_sent_as_a_file_is_the_one_read() -> None:
    """Long conversations reach the web as an attached document; the message only points at it."""
    prompt = conversation(user("what is in notes.txt?"), tools=[READ])
    plan = plan_reply("See the attached file.", None, False, None, conversation=prompt)
    assert call_in("".join(plan.answer))["name"] == "Read"


def test_a_failed_tool_is_reported_as_a_failure() -> None:
    called = Message("assistant", [], tool_calls=[ToolCall("c1", "Read", '{"file_path": "/w/nope.txt"}')])
    result = Message("tool", [TextPart("<tool_use_error>File does not exist.</tool_use_error>")], tool_call_id="c1")
    composed = compose(conversation(user("what is in nope.txt?"), called, result, tools=[READ]))
    assert composed is not None and composed.text == "Reading `nope.txt` failed: File does not exist."
