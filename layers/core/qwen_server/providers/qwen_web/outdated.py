"""Recognising the web app's "client too old" refusal, and saying what fixes it. Pure: no I/O.

chat.qwen.ai refuses a client whose `version` header it considers old with "你正在使用较早版本..." ("you are
using an older version, please upgrade"; the whole sentence is in the provider's README). It has been seen as
an HTTP 200 JSON failure, and may as well come as an SSE error frame or as the answer's text. The markers are
data (`signatures.client_outdated` in `protocol.json`). Every account would get the same answer, so it is `UpstreamClientOutdated`: never an answer,
never a strike; the message names the version in force and the override that replaces it.

An answer is a refusal only when it starts with a marker and stays short (the refusal is one sentence), and only
when the prompt itself does not hold a marker (a model asked to repeat the sentence may). While the answer's first
characters may still grow into a marker they are held back; an ordinary answer is released at its first piece.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from qwen_server.core.errors import UpstreamClientOutdated
from qwen_server.providers.qwen_web import protocol

ANSWER_LIMIT = 240  # characters: a refusal is one sentence; a longer answer that starts like one is an answer
DIAGNOSIS = "client version too old"


def markers() -> tuple[str, ...]:
    return protocol.current().signatures("client_outdated")


def is_refusal(text: str) -> bool:
    """Whether an error's code / details (or an answer) carry the old-client refusal."""
    return protocol.current().matches("client_outdated", text) is not None


def override(version: str | None) -> str:
    """The exact `QWEN_PROTOCOL_OVERRIDES` value that puts `version` in force."""
    value = version or "<the version the web app sends>"
    return "QWEN_PROTOCOL_OVERRIDES='" + json.dumps({"headers": {"version": value}}, ensure_ascii=False) + "'"


@dataclass(frozen=True, slots=True)
class Finding:
    """What reading the web app's own page said about its current version."""

    version: str | None
    where: str = ""  # the path of the page or script that named it
    reason: str = ""  # why nothing was found


def explain(
    sent: str | None,
    source: str,
    finding: Finding | None,
    *,
    retried: bool = False,
    upstream: str = "",
) -> str:
    """The diagnosis in one message: what was refused, what the web app's page says, what to set."""
    quoted = f' ("{upstream.strip()[:80]}")' if upstream.strip() else ""
    head = f"qwen upstream refused the client version {sent or '(none)'} as too old{quoted}: {DIAGNOSIS}"
    return f"{head}; {advice(sent, source, finding, retried=retried)}"


def advice(sent: str | None, source: str, finding: Finding | None, *, retried: bool = False) -> str:
    """What the web app's page says and the exact override to set (the gateway's error and the doctor's hint)."""
    found = finding.version if finding else None
    if finding is None:
        learned = "the web app's current version was not looked up"
    elif found is None:
        learned = f"the web app's current version could not be read ({finding.reason})"
    elif retried:
        learned = f"the web app's current version {found} was tried and refused too"
    elif found == sent:
        learned = f"the web app's own page still names {found}"
    elif protocol.current().version_pinned:
        learned = f"the web app sends {found} today, but {protocol.OVERRIDES_ENV} pins {sent}"
    else:
        learned = f"the web app sends {found} today"
    fix = override(found if found and found != sent and not retried else None)
    return f"{learned}. Set {fix} (version in force: {sent or '(none)'}, {source})"


def refusal_error(
    sent: str | None, source: str, finding: Finding | None, *, retried: bool = False, upstream: str = ""
) -> UpstreamClientOutdated:
    """The error a client sees once the gateway has done what it can (`final`: not retried again)."""
    error = UpstreamClientOutdated(explain(sent, source, finding, retried=retried, upstream=upstream))
    error.final, error.upstream = True, upstream
    return error


def raw_refusal(code: str, details: str) -> UpstreamClientOutdated:
    """A refusal as the wire parser meets it, before the provider looks up the web app's version: it already
    names the version in force and the override to set."""
    spec = protocol.current()
    text = " ".join(part for part in (code, details) if part)
    error = UpstreamClientOutdated(explain(spec.version, spec.version_source, None, upstream=text))
    error.upstream = text
    return error


@dataclass(slots=True)
class AnswerWatch:
    """Holds back an answer's first characters while they may still be the refusal (see the module doc).

    `feed` returns the text to pass on (possibly empty while holding); `finish` the text still held at the end
    of the answer. Both raise `UpstreamClientOutdated` when the answer is the refusal."""

    enabled: bool = True
    held: str = ""
    settled: bool = False
    suspect: bool = False

    def feed(self, text: str) -> str:
        if self.settled or not self.enabled:
            return text
        self.held += text
        probe = self.held.lstrip().lower()
        if not probe:
            return ""
        if self.suspect or any(probe.startswith(m) for m in markers()):
            self.suspect = True
            if len(self.held) <= ANSWER_LIMIT:
                return ""
            return self._release()  # too long for the refusal: an answer that starts like it
        if any(m.startswith(probe) for m in markers()):
            return ""
        return self._release()

    def finish(self) -> str:
        if self.suspect and not self.settled:
            raise raw_refusal("", self.held)
        return self._release()

    def _release(self) -> str:
        self.settled = True
        out, self.held = self.held, ""
        return out


