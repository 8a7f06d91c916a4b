"""Pure: turn a reply plan and the knobs into the timed sequence of SSE events one completion sends."""

from __future__ import annotations

from dataclasses import dataclass

from qwen_server.emulator import phases, protocol
from qwen_server.emulator.knobs import Knobs
from qwen_server.emulator.replies import ReplyPlan, count_tokens

STREAM_ERROR = ("InternalError", "The model service failed while generating (emulated)")
# Alibaba's moderation refusal (code and wording as DashScope documents them)
CONTENT_FILTER = ("data_inspection_failed", "Output data may contain inappropriate content. (emulated)")
CUT_ERRORS = {"in_stream": STREAM_ERROR, "content_filter": CONTENT_FILTER}


@dataclass(frozen=True, slots=True)
class Ids:
    chat_id: str
    parent_id: str
    response_id: str


@dataclass(frozen=True, slots=True)
class Step:
    """Wait `wait` seconds, then write `data`."""

    wait: float
    data: bytes


@dataclass(frozen=True, slots=True)
class Timeline:
    steps: tuple[Step, ...]
    complete: bool  # False: the connection is dropped after the last step
    answer: str
    think: str
    usage: dict[str, int] | None


def cut_point(pieces: int) -> int:
    """After how many answer pieces a drop or an in-stream error happens: a few, never all."""
    return max(1, min(3, pieces - 1))


class _Writer:
    """Accumulates steps, counting output tokens and charging the first-token latency once."""

    def __init__(self, plan: ReplyPlan, knobs: Knobs, ids: Ids, incremental: bool) -> None:
        self.plan, self.knobs, self.ids, self.incremental = plan, knobs, ids, incremental
        self.per_piece = knobs.token_latency if plan.delay is None else plan.delay
        self.steps = [Step(0.0, protocol.created_event(ids.chat_id, ids.parent_id, ids.response_id))]
        self.out_chars = 0
        self.first = True

    def usage(self) -> dict[str, int] | None:
        if not self.plan.usage:
            return None
        return protocol.usage(self.plan.input_tokens, count_tokens(self.out_chars))

    def _wait(self) -> float:
        wait = self.knobs.first_token_latency if self.first else self.per_piece
        self.first = False
        return wait

    def next_wait(self) -> float:
        return self._wait()

    def phase(self, pieces: tuple[str, ...], name: str, extra: dict[int, float]) -> str:
        text = ""
        for i, piece in enumerate(pieces):
            self.out_chars += len(piece)
            text += piece
            event = protocol.delta_event(
                piece if self.incremental else text, name, "typing", self.ids.response_id, self.usage()
            )
            self.steps.append(Step(self._wait() + extra.get(i, 0.0), event))
        return text

    def finished(self, name: str, extra: float) -> None:
        wait = self.knobs.first_token_latency if self.first else 0.0
        self.first = False
        event = protocol.delta_event("", name, "finished", self.ids.response_id, self.usage())
        self.steps.append(Step(wait + extra, event))


def build(plan: ReplyPlan, knobs: Knobs, ids: Ids, incremental: bool = True) -> Timeline:
    """Think phase (if planned) then answer phase, each closed by a `finished` delta.

    `silence` waits before the first answer piece, `silence_mid` before the middle one (before the
    answer's `finished` when there are fewer than two pieces). A drop or an in-stream error cuts the
    answer after `cut_point` pieces.
    """
    w = _Writer(plan, knobs, ids, incremental)
    think = ""
    if plan.think:
        think = w.phase(plan.think, "think", {})
        w.finished("think", 0.0)

    if plan.mode is not None:  # search, research or code phases (emulator/phases.py)
        for delta in plan.mode.deltas:
            w.steps.append(Step(w.next_wait(), phases.delta_line(delta, ids.response_id)))

    pieces = plan.answer
    extra: dict[int, float] = {}
    extra_final = 0.0
    if pieces:
        extra[0] = plan.silence
    else:
        extra_final += plan.silence
    if len(pieces) >= 2:
        extra[len(pieces) // 2] = extra.get(len(pieces) // 2, 0.0) + plan.silence_mid
    else:
        extra_final += plan.silence_mid
    if plan.error == "drop" or plan.error in CUT_ERRORS:
        pieces = pieces[: cut_point(len(pieces))]
    answer = w.phase(pieces, "answer", extra)

    if plan.error == "drop":
        return Timeline(tuple(w.steps), False, answer, think, w.usage())
    if plan.error in CUT_ERRORS:
        code, details = CUT_ERRORS[plan.error]
        w.steps.append(Step(w.per_piece, protocol.stream_error_event(code, plan.details or details)))
    else:
        w.finished("answer", extra_final)
    return Timeline(tuple(w.steps), True, answer, think, w.usage())
