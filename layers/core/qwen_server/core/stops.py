"""Stop sequences and output limits enforced by the gateway itself (the web API has neither).

`StopMatcher` is fed text pieces and releases text as soon as it cannot be the start of a stop sequence;
a piece that ends with a possible prefix is held back until the next piece decides.

Matching is one pass over the text whatever the number of stops (an Aho-Corasick automaton over the stop
sequences): a piece costs time in its own length, never in (stops x held text), so a long list of stops cannot
stall the event loop that streams every other answer. The answer stops where the first stop sequence ends,
as an upstream generating token by token would; of two that end at the same place the longer one counts.

How many stop sequences a request may carry, and how long each may be, is the APIs' business (their schemas
check `problem`); the figures here are the gateway's own ceiling for a single sequence.
"""

from __future__ import annotations

import re

MAX_STOP_CHARS = 256  # a stop sequence is a marker ("\n\nHuman:", "</answer>"), never a paragraph


def problem(value: object, most: int) -> str | None:
    """Why a request's stop value (a string or a list, as sent) is refused: more than `most` sequences, or one
    over `MAX_STOP_CHARS`; None otherwise. Meant to run before the items are validated one by one, so a flood
    is refused by its length alone."""
    stops = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    if len(stops) > most:
        return f"at most {most} stop sequences, got {len(stops)}"
    for i, stop in enumerate(stops):
        if isinstance(stop, str) and len(stop) > MAX_STOP_CHARS:
            return f"stop sequence {i} is {len(stop)} characters; at most {MAX_STOP_CHARS}"
    return None


class StopMatcher:
    def __init__(self, stops: list[str]) -> None:
        self._stops = list(dict.fromkeys(s for s in stops if s))
        self._next: list[dict[str, int]] = [{}]  # trie edges, node 0 the root
        self._depth = [0]  # characters from the root: how much text a node stands for
        self._word: list[str | None] = [None]  # the longest stop ending at this node, itself or by a suffix
        for stop in self._stops:
            self._insert(stop)
        self._fail = self._links()
        firsts = "".join(sorted(self._next[0]))
        self._firsts = re.compile(f"[{re.escape(firsts)}]") if firsts else None
        self._state = 0
        self._held = ""
        self.matched: str | None = None

    def _insert(self, stop: str) -> None:
        node = 0
        for ch in stop:
            child = self._next[node].get(ch)
            if child is None:
                child = len(self._next)
                self._next[node][ch] = child
                self._next.append({})
                self._depth.append(self._depth[node] + 1)
                self._word.append(None)
            node = child
        self._word[node] = stop

    def _links(self) -> list[int]:
        """Each node's failure link (the longest proper suffix that is also in the trie), breadth first, with
        `_word` extended along it so a node knows every stop that ends there."""
        fail = [0] * len(self._next)
        queue = list(self._next[0].values())
        for node in queue:  # the queue grows while it is walked: breadth-first order
            for ch, child in self._next[node].items():
                link = fail[node]
                while link and ch not in self._next[link]:
                    link = fail[link]
                found = self._next[link].get(ch, 0)
                fail[child] = found if found != child else 0
                if self._word[child] is None:
                    self._word[child] = self._word[fail[child]]
                queue.append(child)
        return fail

    def feed(self, text: str) -> str:
        """Text safe to emit now; after a match, everything from the stop sequence on is dropped."""
        if self.matched is not None:
            return ""
        if not self._stops:
            return text
        state, nxt, fail, word, firsts = self._state, self._next, self._fail, self._word, self._firsts
        assert firsts is not None
        i, size = 0, len(text)
        while i < size:
            if state == 0:  # nothing pending: jump to the next character that can begin a stop
                found = firsts.search(text, i)
                if found is None:
                    break
                i = found.start()
            ch = text[i]
            while state and ch not in nxt[state]:
                state = fail[state]
            state = nxt[state].get(ch, 0)
            hit = word[state]
            if hit is not None:
                self.matched = hit
                buffer = self._held + text[: i + 1]
                self._held, self._state = "", 0
                return buffer[: len(buffer) - len(hit)]
            i += 1
        self._state = state
        buffer = self._held + text
        keep = self._depth[state]  # the text's tail that a stop may still begin with
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        held, self._held, self._state = self._held, "", 0
        return "" if self.matched is not None else held
