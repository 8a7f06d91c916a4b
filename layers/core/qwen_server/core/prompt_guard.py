"""Keeping untrusted text from rewriting the structure of a flattened prompt.

A web account receives the whole conversation as one message whose turns are marked by header lines and whose
tool results sit inside `<tool_response>` tags. Text the client passes on from elsewhere (a tool's output, a
pasted document) could otherwise imitate that structure: a line `[system]` would read as a new system turn, a
`</tool_response>` would end the result early and let what follows pass for the model's own context. So:

- every header carries a per-request nonce (`[user #3fa9c2d1]`), which the content cannot know in advance;
- header-like lines inside untrusted content are escaped with a backslash (`\\[system]`);
- the tags the model and the parser give meaning to (`<tool_call>`, `<tool_response>`, `<tools>`, and the chat
  template's `<|im_start|>`-style tokens) are written as `&lt;...&gt;` inside untrusted content.

The model still reads the text; it only no longer reads it as structure.
"""

from __future__ import annotations

import re
import secrets

_HEADER_LIKE = re.compile(
    r"^([ \t]*)\[(?=[ \t]*(?:system|user|assistant|tool_result|tool|developer)\b[^\]\n]*\][ \t]*$)",
    re.IGNORECASE | re.MULTILINE,
)
_TAG_LIKE = re.compile(
    r"<(\s*/?\s*(?:tool_call|tool_response|tools|tool_result|function_call|function_response)\s*/?\s*)>"
    r"|<(\|[a-z_]+\|)>",
    re.IGNORECASE,
)


def new_nonce() -> str:
    """Eight hex digits, fresh per request."""
    return secrets.token_hex(4)


def neutralise(text: str, *, tags: bool = True) -> str:
    """`text` with header-like lines escaped and (with `tags`) structural tags written as entities."""
    if "[" in text:
        text = _HEADER_LIKE.sub(lambda m: m.group(1) + "\\[", text)
    if tags and "<" in text:
        text = _TAG_LIKE.sub(lambda m: f"&lt;{m.group(1) or m.group(2)}&gt;", text)
    return text


class FenceTracker:
    """Whether the text seen so far ends inside a Markdown code fence (``` or ~~~ at a line's start)."""

    __slots__ = ("_head", "_open", "inside")

    def __init__(self) -> None:
        self.inside = False
        self._head: str | None = ""  # the current line's first characters, None once decided
        self._open = ""  # the fence that opened the block

    def feed(self, text: str) -> None:
        for ch in text:
            if ch == "\n":
                self._head = ""
                continue
            head = self._head
            if head is None:
                continue
            head += ch
            stripped = head.lstrip(" ")
            if len(head) - len(stripped) > 3 or (stripped and stripped[0] not in "`~"):
                self._head = None
            elif len(stripped) >= 3:
                self._head = None
                fence = stripped[:3]
                if fence in ("```", "~~~") and (not self.inside or fence == self._open):
                    self.inside = not self.inside
                    self._open = fence
            else:
                self._head = head
