"""Pure: a flattened conversation read back into its turns, as a model reading the prompt would.

The gateway sends a web account the whole conversation as one message: blocks opened by header lines
`[role #nonce name=...]` (`system`, `user`, `assistant`, `tool_result id=...`), the nonce being the same on
every header of one prompt, so a header-like line without it is quoted content, not a turn. A message with no
header at all is one user turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = re.compile(
    r"^\[(?P<role>system|user|assistant|tool_result)(?: #(?P<nonce>[0-9a-z]+))?"
    r"(?: name=(?P<name>[^\]\n]*)| id=[^\]\n]*)?\]$",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # system | user | assistant | tool_result
    text: str
    name: str | None = None


def headers(content: str) -> list[re.Match[str]]:
    """The turn headers: those carrying the first header's nonce (all of them when it has none)."""
    found = list(HEADER.finditer(content))
    if not found:
        return found
    nonce = found[0].group("nonce")
    return [h for h in found if h.group("nonce") == nonce]


def block(content: str, found: list[re.Match[str]], i: int) -> str:
    """The text of the turn opened by header `i` (up to the next header), without its framing newlines."""
    end = found[i + 1].start() if i + 1 < len(found) else len(content)
    return content[found[i].end() : end].strip("\n")


def turns(content: str) -> list[Turn]:
    """Every turn in order; a message without headers is one user turn."""
    found = headers(content)
    if not found:
        return [Turn("user", content.strip())]
    return [
        Turn(h.group("role"), block(content, found, i).strip(), h.group("name")) for i, h in enumerate(found)
    ]
