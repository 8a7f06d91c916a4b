"""One request end to end: admit → choose an account → stream with failover → record the outcome.

The API layers call `Gateway.stream(request)` and get neutral events. Everything before the first event is
retried on another account when the error allows it (within the pool's retry budget); after the first event
the client has bytes, so failures surface as they are. Output post-processing the web API cannot do itself
(stop sequences, max_tokens, usage estimates, tool-call parsing) happens here, once, for every upstream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

from qwen_server.core import structured, tooling
from qwen_server.core.catalog import ModelCatalog
from qwen_server.core.errors import GatewayError, UpstreamTimeout
from qwen_server.core.model import (
    ChatRequest,
    Event,
    Finish,
    Message,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolCallStart,
    Usage,
)
from qwen_server.core.output import OutputShaper
from qwen_server.core.tokens import estimate_tokens
from qwen_server.models_directory import ModelsDirectory
from qwen_server.pool.pool import AccountPool, Choice, Outcome
from qwen_server.providers.base import ModelInfo, Provider
from qwen_server.scheduler.base import RequestClass, Scheduler

MAX_ATTEMPTS = 4
SLOT_RENEW_SECONDS = 120.0


class Gateway:
    def __init__(
        self,
        pool: AccountPool,
        scheduler: Scheduler,
        providers: dict[str, Provider],
        catalog: ModelCatalog,
        first_byte_timeout: float = 60.0,
        models_cache_seconds: float = 300.0,
        models: ModelsDirectory | None = None,
    ) -> None:
        self.pool = pool
        self.scheduler = scheduler
        self.providers = providers
        self.catalog = catalog
        self.first_byte_timeout = first_byte_timeout
        self.models = models or ModelsDirectory(
            pool.registry, providers, catalog, cache_seconds=models_cache_seconds
        )

    # ---- models (models_directory.py) -------------------------------------------------------------------
    async def upstream_models(self) -> list[ModelInfo]:
        return await self.models.upstream_models()

    async def resolve_model(self, name: str) -> tuple[str, bool | None]:
        return await self.models.resolve(name)

    # ---- chat -------------------------------------------------------------------------------------------
    async def stream(self, request: ChatRequest, cls: RequestClass = "chat") -> AsyncIterator[Event]:
        """Neutral events of the answer; always ends with one `Usage` and one `Finish`."""
        tooling.prepare(request)
        if structured.wants_json(request.response_format):
            tooling.add_system_extra(request, structured.instruction(request.response_format or {}))
        async with self.scheduler.admit(cls, request.tenant):
            if tooling.requires_call(request) or structured.wants_json(request.response_format):
                async for event in self._checked(request):
                    yield event
            else:
                async for event in self._attempt(request):
                    yield event

    async def _checked(self, request: ChatRequest) -> AsyncIterator[Event]:
        """An answer that must meet a contract (a required call, a JSON shape): buffered, checked, and
        retried once with a stronger instruction; the second answer is returned whatever it is."""
        first = [e async for e in self._attempt(request)]
        fixed, problem = _verdict(request, first)
        if problem is None:
            for event in fixed:
                yield event
            return
        retry = replace(request, messages=list(request.messages), extra=dict(request.extra))
        if structured.wants_json(request.response_format):
            text = "".join(e.text for e in first if isinstance(e, TextDelta))
            retry.messages += [
                Message("assistant", [TextPart(text)]),
                Message(
                    "user", [TextPart(structured.repair_instruction(problem, request.response_format or {}))]
                ),
            ]
        else:
            tooling.add_system_extra(retry, tooling.retry_instruction(request))
        second = [e async for e in self._attempt(retry)]
        fixed, _ = _verdict(request, second)
        for event in _merge_usage(first, fixed):
            yield event

    async def _attempt(self, request: ChatRequest) -> AsyncIterator[Event]:
        choice, upstream, first, started = await self._open(request)
        outcome = Outcome(ok=False)
        shaper = OutputShaper(request)
        renewed = started
        try:
            async for event in _prepend(first, upstream):
                now = time.monotonic()
                if outcome.ttft is None and isinstance(event, TextDelta | ThinkingDelta):
                    outcome.ttft = now - started
                if now - renewed > SLOT_RENEW_SECONDS:  # a long answer keeps its account slot
                    renewed = now
                    await self.pool.renew(choice)
                for shaped in shaper.feed(event):
                    yield shaped
                if shaper.done:
                    break
            for shaped in shaper.close():
                yield shaped
            outcome.ok = True
        except GatewayError as exc:
            outcome.error = exc
            raise
        finally:
            await _close(upstream)
            outcome.duration = time.monotonic() - started
            generating = outcome.duration - (outcome.ttft or 0.0)
            if outcome.ok and generating > 0 and shaper.output_tokens:
                outcome.tokens_per_s = shaper.output_tokens / generating
            await self.pool.record(choice, outcome)
        for event in shaper.final(estimate_tokens(_prompt_text(request))):
            yield event

    async def _open(self, request: ChatRequest) -> tuple[Choice, AsyncIterator[Event], Event | None, float]:
        """Choose an account and get the first event, failing over while nothing was sent to the client."""
        tried: set[str] = set()
        last_error: GatewayError | None = None
        budget_spent = False
        for attempt in range(MAX_ATTEMPTS):
            if attempt and not await self.pool.allow_retry():
                budget_spent = True
                break
            try:
                choice = await self.pool.choose(
                    request.model, session_id=request.session_id, exclude=frozenset(tried)
                )
            except GatewayError:
                if last_error is None:
                    raise
                break  # nobody left to try: report what the last account said
            started = time.monotonic()
            upstream = self.providers[choice.account.kind].stream(request, choice.account)
            try:
                async with asyncio.timeout(self.first_byte_timeout):
                    first: Event | None = await anext(upstream)
            except StopAsyncIteration:
                first = None
            except TimeoutError:
                await _close(upstream)
                last_error = UpstreamTimeout(f"no answer within {self.first_byte_timeout:.0f}s")
                await self.pool.record(choice, Outcome(ok=False, error=last_error))
                tried.add(choice.account.id)
                continue
            except GatewayError as exc:
                await _close(upstream)
                await self.pool.record(choice, Outcome(ok=False, error=exc, ttft=time.monotonic() - started))
                if not exc.retryable:
                    raise
                last_error = exc
                tried.add(choice.account.id)
                continue
            return choice, upstream, first, started
        assert last_error is not None
        if budget_spent:
            # Failover was cut short to avoid a retry storm, not because every account failed: a client
            # retry after a short pause may well land on another account, whatever this one's own wait.
            last_error.retry_after = 1.0
        else:
            last_error.gave_up = True  # type: ignore[attr-defined]
        raise last_error


def _verdict(request: ChatRequest, events: list[Event]) -> tuple[list[Event], str | None]:
    """The events to return (JSON text cleaned) and what breaks the request's contract, if anything."""
    if structured.wants_json(request.response_format):
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        clean, problem = structured.check(text, request.response_format or {})
        if clean is None:
            return events, problem
        rest = [e for e in events if not isinstance(e, TextDelta)]
        at = next((i for i, e in enumerate(rest) if isinstance(e, Usage | Finish)), len(rest))
        return [*rest[:at], TextDelta(clean), *rest[at:]], None
    called = [e.name for e in events if isinstance(e, ToolCallStart)]
    if tooling.satisfied(request, called):
        return events, None
    return events, "no required tool call"


def _merge_usage(earlier: list[Event], final: list[Event]) -> list[Event]:
    """The final answer's events, with usage counting every attempt the client's request cost."""
    spent = [e for e in earlier if isinstance(e, Usage)]
    out: list[Event] = []
    for event in final:
        if isinstance(event, Usage) and spent:
            event = Usage(
                input_tokens=event.input_tokens + sum(u.input_tokens for u in spent),
                output_tokens=event.output_tokens + sum(u.output_tokens for u in spent),
                reasoning_tokens=event.reasoning_tokens + sum(u.reasoning_tokens for u in spent),
                estimated=event.estimated or any(u.estimated for u in spent),
            )
        out.append(event)
    return out


def _prompt_text(request: ChatRequest) -> str:
    return "\n".join(m.text for m in request.messages) + str(request.extra.get("system_extra") or "")


async def _prepend(first: Event | None, rest: AsyncIterator[Event]) -> AsyncIterator[Event]:
    if first is not None:
        yield first
    async for event in rest:
        yield event


async def _close(stream: AsyncIterator[Event]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except GatewayError:
            return
