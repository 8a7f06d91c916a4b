"""Token counts in Qwen's own BPE vocabulary (`core.qwen_vocab`), for when an upstream reports no usage,
for `max_tokens` and for `count_tokens`.

Text is NFC-normalised first, as Qwen's tokenizer does. When the vocabulary cannot be loaded, counts fall back
to the old rule (one token per CJK character, about four characters per token otherwise); `tokenizer()` says
which one is in use. Either way a count the gateway makes is reported as an estimate: the upstream's own
framing around the text is not known here.
"""

from __future__ import annotations

import asyncio
import functools
import re
import unicodedata
from typing import Any, Literal

from qwen_server.core.qwen_vocab import PATTERN, encoding, preload, ready

_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\u3040-\u30ff]+")  # runs: fewer matches to build
LONG_TEXT = 50_000  # longer texts are encoded in slices: tiktoken's Rust merge can overflow its stack
SLOW_CHARS = 200_000  # text with nowhere to cut is counted piece by piece up to this much, then by the rule
PIECE_LIMIT = 4_096  # a longer pre-tokenizer piece (one endless word) is counted by the rule: encoding it whole
# can overflow the encoder's stack, and no real word is this long
WINDOW = 65_536  # long scans run a window at a time, so no single call holds the interpreter for long
# Where the pre-tokenizer always starts a new piece and no piece before looks past: after a newline followed by
# a non-space, and at a single space between two non-spaces. Slices cut there encode exactly as the whole does.
_SAFE_CUT = re.compile(r"\n(?=\S)|(?<=\S)(?= \S)")
SETTLE_AT = 512  # a `TokenCounter` re-encodes at most about this many characters per added piece
UNSETTLED_PIECES = 2  # appended text can only change how the last two pre-tokenizer pieces are cut


def tokenizer() -> Literal["qwen-bpe", "estimate"]:
    """Which counting is in use (loads the vocabulary if nothing has yet)."""
    return "qwen-bpe" if encoding() is not None else "estimate"


def _rule(text: str) -> tuple[int, int]:
    wide = sum(len(run) for at in range(0, len(text), WINDOW) for run in _WIDE.findall(text, at, at + WINDOW))
    return wide, len(text) - wide


def _rule_tokens(wide: int, narrow: int) -> int:
    return wide + (narrow + 3) // 4


def rough_count(text: str) -> int:
    """The characters-per-token rule's count: no vocabulary, for figures that only need to be consistent."""
    return _rule_tokens(*_rule(text)) if text else 0


@functools.cache
def _pieces() -> Any:
    import regex  # tiktoken's own dependency; Python's `re` lacks \p{L}

    return regex.compile(PATTERN)


PRELOAD_DELAY = 1.0  # seconds: the first answer goes out before the vocabulary competes with it for the CPU


def _preload_soon() -> None:
    try:
        asyncio.get_running_loop().call_later(PRELOAD_DELAY, preload)
    except RuntimeError:
        preload()


def count_tokens(text: str, *, wait: bool = True) -> int:
    """Tokens of `text` on its own (no chat framing). With `wait=False` a vocabulary not yet loaded is not
    waited for: it starts loading in a thread and the rule counts this time (for figures that are only
    indicative, such as `message_start`'s, so a process's first request never pays for the load)."""
    if not text:
        return 0
    if not wait and not ready():
        _preload_soon()
        return _rule_tokens(*_rule(text))
    enc = encoding()
    if enc is None:
        return _rule_tokens(*_rule(text))
    text = unicodedata.normalize("NFC", text)
    if len(text) <= LONG_TEXT:
        return len(enc.encode_ordinary(text))
    total, budget = 0, SLOW_CHARS
    for segment in slices(text):
        if len(segment) <= 2 * LONG_TEXT:
            total += len(enc.encode_ordinary(segment))
        else:
            counted, budget = _count_uncut(segment, enc, budget)
            total += counted
    return total


def _count_uncut(segment: str, enc: Any, budget: int) -> tuple[int, int]:
    """(tokens, budget left) of a stretch with nowhere to cut: piece by piece as the pre-tokenizer cuts it
    (BPE never merges across pieces, so this is exact), while `budget` characters last; a piece over
    `PIECE_LIMIT` and whatever is left past the budget by the rule. Such stretches (an endless word, a run of
    spaces) are rare in text and common in attacks: their cost is bounded, never their size."""
    total = at = 0
    for match in _pieces().finditer(segment, concurrent=True):  # the regex releases the GIL while it scans
        if budget <= 0:
            break
        piece = match.group()
        total += len(enc.encode_ordinary(piece)) if len(piece) <= PIECE_LIMIT else rough_count(piece)
        budget -= len(piece)
        at = match.end()
    return total + rough_count(segment[at:]), budget


def slices(text: str, size: int = LONG_TEXT) -> list[str]:
    """`text` cut (after a line break, or at a single space) into slices of about `size`, up to twice that,
    that encode one by one to exactly the tokens of the whole; a stretch with nowhere to cut stays whole.
    The search goes a window at a time, so a long stretch without a cut never holds the interpreter."""
    out: list[str] = []
    start = 0
    while len(text) - start > 2 * size:
        found = None
        at = start + size
        while found is None and at < len(text):
            # a window [at, at + size) of places to cut, plus the one character its look-ahead needs
            found = _SAFE_CUT.search(text, at, at + size + 1)
            at += size
        if found is None:
            break
        out.append(text[start : found.end()])
        start = found.end()
    out.append(text[start:])
    return out


def estimate_tokens(text: str) -> int:
    """The usage estimate for text the upstream did not count (the same as `count_tokens`)."""
    return count_tokens(text)


OFF_LOOP_CHARS = 32 * 1024  # longer texts are counted in a worker thread (`offload`), off the event loop


async def count_tokens_off_loop(text: str) -> int:
    """`count_tokens`, in a worker thread when `text` is long enough to hold the event loop up."""
    if len(text) < OFF_LOOP_CHARS:
        return count_tokens(text)
    from qwen_server.core import offload

    return await offload.run(functools.partial(count_tokens, text))


def estimate_messages_tokens(
    texts: list[str], per_message_overhead: int, reply_overhead: int, *, wait: bool = True
) -> int:
    return sum(count_tokens(t, wait=wait) + per_message_overhead for t in texts) + reply_overhead


class TokenCounter:
    """Tokens of a text that arrives in pieces (a stream), counted as if the whole text were tokenized at once.

    Re-encoding the whole text at every piece would be quadratic. BPE never merges across the pre-tokenizer's
    pieces, and appending text can only re-cut the last of them, so everything before the last
    `UNSETTLED_PIECES` is counted once ("settled") and only the short tail is re-encoded. Nothing is counted
    (and no vocabulary loaded) until a count is asked for.
    """

    __slots__ = ("_narrow", "_pending", "_settled", "_tail", "_wide")

    def __init__(self) -> None:
        self._pending: list[str] = []
        self._tail = ""
        self._settled = 0
        self._wide = 0  # the fallback rule's running sums
        self._narrow = 0

    def add(self, text: str) -> None:
        if text:
            self._pending.append(text)

    def _settle(self) -> None:
        if self._pending:
            self._tail += unicodedata.normalize("NFC", "".join(self._pending))
            self._pending.clear()
        if len(self._tail) <= SETTLE_AT:
            return
        enc = encoding()
        if enc is None:
            wide, narrow = _rule(self._tail)
            self._wide, self._narrow, self._tail = self._wide + wide, self._narrow + narrow, ""
            return
        pieces = _pieces().findall(self._tail)
        if len(pieces) > UNSETTLED_PIECES:
            settled = pieces[:-UNSETTLED_PIECES]
            # piece by piece: encoding the settled text as one string could re-cut its last piece
            self._settled += sum(len(enc.encode_ordinary(piece)) for piece in settled)
            self._tail = self._tail[sum(map(len, settled)) :]

    def peek(self, text: str) -> int:
        """What `total` would be after `add(text)`, without adding it."""
        self._settle()
        tail = self._tail + unicodedata.normalize("NFC", text) if text else self._tail
        if not tail and not self._settled and not self._wide + self._narrow:
            return 0
        enc = encoding()
        if enc is None:
            wide, narrow = _rule(tail)
            return _rule_tokens(self._wide + wide, self._narrow + narrow)
        return self._settled + len(enc.encode_ordinary(tail))

    @property
    def total(self) -> int:
        return self.peek("")

    def split_last_piece(self, text: str) -> tuple[str, str]:
        """`text` without the pre-tokenizer piece the whole text ends in (a word may still grow, and a
        partial word can take more tokens than the whole one), and that piece."""
        if encoding() is None or unicodedata.normalize("NFC", text) != text:
            return text, ""  # the rule counts characters: a partial word never costs more than the whole
        self._settle()
        last = None
        for match in _pieces().finditer(self._tail + text):
            last = match.start()
        if last is None:
            return text, ""
        at = max(0, last - len(self._tail))
        return text[:at], text[at:]

    def fit(self, text: str, limit: int) -> str:
        """The start of `text` covered by the first `limit` tokens of the whole text (all of it if it fits)."""
        if self.peek(text) <= limit:
            return text
        enc = encoding()
        normal = unicodedata.normalize("NFC", text)
        if enc is None or normal != text:  # no vocabulary, or a cut in normalised text would not map back
            lo, hi = 0, len(text)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if self.peek(text[:mid]) <= limit else (lo, mid - 1)
            return text[:lo]
        room = max(0, limit - self._settled)
        covered = enc.decode_bytes(enc.encode_ordinary(self._tail + text)[:room])
        return covered.decode("utf-8", errors="ignore")[len(self._tail) :]
