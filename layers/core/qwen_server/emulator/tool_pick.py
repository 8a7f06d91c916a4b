"""Pure: whether a request calls for one of the offered tools, which one, and with what arguments.

A tool is called only when the request asks for what it does:
- the request names a file: a tool that reads files reads it; failing that a shell tool `cat`s it;
- the request asks about a folder's files: a listing tool lists it; failing that a shell tool runs `ls`;
- otherwise the tool whose name (or the first sentence of its description) shares words with the request;
- `tool_choice` required or named: a call whatever the request says (the best match, else the first tool).
Tools with side effects (their name or description starts with a verb such as write, edit, delete, send,
launch) are never chosen by a match, and a shell only ever gets a read-only command on something the request
names, so the emulator never invents a side effect. Arguments fill the tool's schema from the request.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from qwen_server.emulator.prompt_facts import COMMON, Facts, key_of
from qwen_server.emulator.prompt_reading import Reading, ToolSig
from qwen_server.emulator.schema_fill import fill, singular

SHELL_WORDS = frozenset("bash shell command terminal exec cmd powershell zsh".split())
SIDE_EFFECT_VERBS = frozenset(
    """write edit create delete remove update replace insert patch apply move rename save modify append
    overwrite kill stop cancel send launch spawn schedule close resume post upload install commit push
    deploy set change enter exit execute run perform start submit book order pay buy transfer""".split()
)
READ_VERBS = frozenset("read view open cat show display load print".split())
LIST_WORDS = frozenset("list ls glob tree".split())
FILE_WORDS = frozenset("file filesystem path document directory folder pattern".split())
GENERIC = COMMON | frozenset(
    """get set fetch tool function call query current new information info data result value thing item
    something anything using based given return returns provide provides""".split()
)
FOLDER_ASK = frozenset("folder directory dir ls".split())
IMAGE_EXTENSIONS = frozenset("png jpg jpeg gif webp bmp svg".split())
_SPLIT = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_LEAD = re.compile(r"^\s*(.*?)(?:[.!?](?:\s|$)|\n|$)", re.DOTALL)


def name_words(name: str) -> list[str]:
    return [singular(w.lower()) for w in _SPLIT.findall(name)]


def text_words(text: str) -> list[str]:
    return [singular(w) for w in re.findall(r"[a-z][a-z0-9]*", text.lower())]


@dataclass(frozen=True, slots=True)
class Kind:
    shell: bool
    side_effects: bool
    reads_files: bool
    lists_files: bool
    images_only: bool


def kind_of(tool: ToolSig) -> Kind:
    names = set(name_words(tool.name))
    found = _LEAD.match(tool.description)
    lead_list = text_words(found.group(1) if found else "")
    lead = set(lead_list)
    words = names | lead
    shell = bool(names & SHELL_WORDS) or bool(lead & {"bash", "shell", "terminal"} and lead & {"command"})
    first_verb = lead_list[0] if lead_list else ""
    side = not shell and bool(names & SIDE_EFFECT_VERBS or first_verb in SIDE_EFFECT_VERBS)
    return Kind(
        shell=shell,
        side_effects=side,
        reads_files=not shell and not side and bool(words & READ_VERBS) and bool(words & FILE_WORDS),
        lists_files=not shell and not side and bool(words & LIST_WORDS) and bool(words & FILE_WORDS),
        images_only="image" in words,
    )


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: dict[str, Any]
    why: str  # one line for the think phase


def _absolute(path: str, cwd: str | None) -> str:
    if path.startswith(("/", "~")) or not cwd:
        return path
    return posixpath.normpath(posixpath.join(cwd, path))


def _hints(tool: ToolSig, target: str | None, command: str | None, reading: Reading) -> dict[str, Any]:
    """Arguments the request decides, keyed by the tool's own property names."""
    hints: dict[str, Any] = {}
    properties = tool.parameters.get("properties") or {}
    for prop, schema in properties.items() if isinstance(properties, dict) else ():
        words = set(key_of(prop).split("_"))
        kind = schema.get("type") if isinstance(schema, dict) else None
        if command is not None and words & {"command", "cmd", "script"}:
            hints[prop] = ["bash", "-lc", command] if kind == "array" else command
        elif target is not None and words & {"path", "file", "filename", "filepath", "dir", "directory"}:
            hints[prop] = _absolute(target, reading.cwd)
        elif target is not None and prop == "pattern":
            hints[prop] = "*"
    return hints


def _call(tool: ToolSig, reading: Reading, facts: Facts, why: str, **hint: Any) -> Call:
    hints = _hints(tool, hint.get("target"), hint.get("command"), reading)
    schema = tool.parameters if tool.parameters.get("type") == "object" else {"type": "object"}
    arguments = fill(schema, facts, optional=False, hints=hints)
    return Call(tool.name, arguments if isinstance(arguments, dict) else {}, why)


def _file_call(tools: list[ToolSig], reading: Reading, facts: Facts) -> Call | None:
    """A read of the first file the request names."""
    if not facts.files:
        return None
    target = facts.files[0]
    image = target.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS
    for tool in tools:
        kind = kind_of(tool)
        if kind.reads_files and kind.images_only == image:
            return _call(tool, reading, facts, f"The {tool.name} tool reads {target}.", target=target)
    for tool in tools:
        if kind_of(tool).shell:
            command = f"cat {_quote(target)}"
            return _call(tool, reading, facts, f"`{command}` shows {target}.", command=command)
    return None


def _folder_call(tools: list[ToolSig], reading: Reading, facts: Facts) -> Call | None:
    """A listing of the folder the request names (the working directory when it says "this folder")."""
    words = set(text_words(reading.request))
    if not (words & FOLDER_ASK or ("file" in words and words & {"what", "which", "list", "here"})):
        return None
    folder = facts.folders[0] if facts.folders else "."
    for tool in tools:
        if kind_of(tool).lists_files:
            return _call(tool, reading, facts, f"The {tool.name} tool lists {folder}.", target=folder)
    for tool in tools:
        if kind_of(tool).shell:
            command = "ls -la" if folder == "." else f"ls -la {_quote(folder)}"
            return _call(tool, reading, facts, f"`{command}` lists the folder.", command=command)
    return None


def _quote(path: str) -> str:
    return path if re.fullmatch(r"[\w./~-]+", path) else "'" + path.replace("'", "'\\''") + "'"


def score(tool: ToolSig, asked: set[str]) -> int:
    """Three points per word of the tool's name the request uses, one per word of its description's first
    sentence (common words and generic verbs never count)."""
    names = {w for w in name_words(tool.name) if w not in GENERIC and len(w) > 2}
    found = _LEAD.match(tool.description)
    lead = {w for w in text_words(found.group(1) if found else "") if w not in GENERIC and len(w) > 2}
    return 3 * len(names & asked) + len((lead - names) & asked)


def _matched(tools: list[ToolSig], reading: Reading, facts: Facts, threshold: int) -> Call | None:
    asked = {w for w in text_words(reading.request) if w not in GENERIC and len(w) > 2}
    best: tuple[int, ToolSig] | None = None
    for tool in tools:
        kind = kind_of(tool)
        if kind.shell or kind.side_effects:
            continue
        points = score(tool, asked)
        if points >= threshold and (best is None or points > best[0]):
            best = (points, tool)
    if best is None:
        return None
    tool = best[1]
    return _call(tool, reading, facts, f"The {tool.name} tool does what the request asks.")


def pick(reading: Reading, facts: Facts) -> Call | None:
    """The call this turn makes, or None for an answer in text."""
    if reading.choice == "none" or not reading.tools:
        return None
    tools = list(reading.tools)
    if reading.choice == "named":
        tools = [t for t in tools if t.name == reading.named] or tools[:1]
    call = (
        _file_call(tools, reading, facts)
        or _folder_call(tools, reading, facts)
        or _matched(tools, reading, facts, threshold=2)
    )
    if call is not None or reading.choice == "auto":
        return call
    forced = _matched(tools, reading, facts, threshold=0)  # a call is required: the best match, even a poor one
    if forced is not None:
        return forced
    tool = tools[0]
    if kind_of(tool).shell:
        return _call(tool, reading, facts, "A call is required; listing the folder changes nothing.", command="ls")
    return _call(tool, reading, facts, f"A call to {tool.name} is required.")
