"""Incremental Server-Sent Events parsing (the `text/event-stream` format), independent of any transport.

Fed raw byte chunks split anywhere (mid-line, mid-UTF-8 character), it yields complete events. Upstream SSE
from Qwen uses only `data:` lines; OpenAI-compatible servers add `event:` and comments. Both go through here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None


class SSEParser:
    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._buffer += chunk
        events: list[SSEEvent] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                break
            raw = self._buffer[:newline]
            self._buffer = self._buffer[newline + 1 :]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            event = self._line(raw.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[SSEEvent]:
        """Flush a final event whose terminating blank line never came (connection closed)."""
        events: list[SSEEvent] = []
        if self._buffer:
            tail = self._line(self._buffer.decode("utf-8", errors="replace").rstrip("\r"))
            self._buffer = b""
            if tail is not None:
                events.append(tail)
        end = self._line("")
        if end is not None:
            events.append(end)
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            if not self._data and self._event is None:
                return None
            event = SSEEvent(data="\n".join(self._data), event=self._event, id=self._id)
            self._data, self._event = [], None
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            self._id = value
        return None
