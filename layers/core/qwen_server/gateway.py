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
from dataclasses import dataclass, field

from qwen_server.core.catalog import ModelCatalog
from qwen_server.core.errors import GatewayError, NotFound, UpstreamTimeout
from qwen_server.core.model import ChatRequest, Event, Finish, TextDelta, ThinkingDelta, Usage
from qwen_server.core.stops import StopMatcher
from qwen_server.core.tokens import estimate_tokens
from qwen_server.pool.pool import AccountPool, Choice, Outcome
from qwen_server.providers.base import ModelInfo, Provider
from qwen_server.scheduler.base import RequestClass, Scheduler

MAX_ATTEMPTS = 4


@dataclass(slots=True)
class _Progress:
    text_tokens: int = 0
    output_chars: list[str] = field(default_factory=list)
    usage: Usage | None = None
    finish: Finish | None = None


class Gateway:
    def __init__(
        self,
        pool: AccountPool,
        scheduler: Scheduler,
        providers: dict[str, Provider],
        catalog: ModelCatalog,
        first_byte_timeout: float = 60.0,
        models_cache_seconds: float = 300.0,
    ) -> None:
        self.pool = pool
        self.scheduler = scheduler
        self.providers = providers
        self.catalog = catalog
        self.first_byte_timeout = first_byte_timeout
        self._models_cache_seconds = models_cache_seconds
        self._models: tuple[float, list[ModelInfo]] | None = None
        self._models_lock = asyncio.Lock()

    # ---- models -----------------------------------------------------------------------------------------
    async def upstream_models(self) -> list[ModelInfo]:
        """The upstream model list, cached; the shipped fallback list when no account can answer."""
        cached = self._models
        if cached and time.monotonic() - cached[0] < self._models_cache_seconds:
            return cached[1]
        async with self._models_lock:
            cached = self._models
            if cached and time.monotonic() - cached[0] < self._models_cache_seconds:
                return cached[1]
            models: list[ModelInfo] | None = None
            seen: dict[str, ModelInfo] = {}
            for account in self.pool.accounts():
                if account.models is not None:
                    for model_id in account.models:
                        seen.setdefault(model_id, ModelInfo(id=model_id))
                    continue
                try:
                    listed = await self.providers[account.kind].list_models(account)
                except GatewayError:
                    continue
                for info in listed:
                    seen.setdefault(info.id, info)
                break  # one answering account of the listing kind is enough
            if seen:
                models = list(seen.values())
                self._models = (time.monotonic(), models)
                return models
            return [
                ModelInfo(id=m["id"], capabilities=tuple(m.get("capabilities") or ()))
                for m in self.catalog.fallback_models
            ]

    async def resolve_model(self, name: str) -> tuple[str, bool | None]:
        resolved = self.catalog.resolve(name)
        if self.catalog.is_alias(name):
            return resolved.upstream, resolved.thinking
        known = {m.id for m in await self.upstream_models()}
        if known and resolved.upstream not in known:
            raise NotFound(f"The model `{name}` does not exist or is not served by this gateway", param="model")
        return resolved.upstream, resolved.thinking

    # ---- chat -------------------------------------------------------------------------------------------
    async def stream(self, request: ChatRequest, cls: RequestClass = "chat") -> AsyncIterator[Event]:
        """Neutral events of the answer; always ends with one `Usage` and one `Finish`."""
        async with self.scheduler.admit(cls, request.tenant):
            choice, upstream, first, started = await self._open(request)
            outcome = Outcome(ok=False)
            try:
                async for event in self._postprocess(request, first, upstream, started, outcome):
                    yield event
                outcome.ok = outcome.error is None
            except GatewayError as exc:
                outcome.error = exc
                raise
            finally:
                outcome.duration = time.monotonic() - started
                await self.pool.record(choice, outcome)

    async def _open(self, request: ChatRequest) -> tuple[Choice, AsyncIterator[Event], Event | None, float]:
        """Choose an account and get the first event, failing over while nothing was sent to the client."""
        tried: set[str] = set()
        last_error: GatewayError | None = None
        for attempt in range(MAX_ATTEMPTS):
            if attempt and not await self.pool.allow_retry():
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
        last_error.gave_up = True  # type: ignore[attr-defined]
        raise last_error

    async def _postprocess(
        self,
        request: ChatRequest,
        first: Event | None,
        upstream: AsyncIterator[Event],
        started: float,
        outcome: Outcome,
    ) -> AsyncIterator[Event]:
        stops = StopMatcher(request.stop)
        progress = _Progress()
        limit = request.max_tokens
        try:
            async for event in _prepend(first, upstream):
                if outcome.ttft is None and isinstance(event, TextDelta | ThinkingDelta):
                    outcome.ttft = time.monotonic() - started
                if isinstance(event, Usage):
                    progress.usage = event
                    continue
                if isinstance(event, Finish):
                    progress.finish = event
                    continue
                if isinstance(event, ThinkingDelta):
                    progress.text_tokens += estimate_tokens(event.text)
                    yield event
                    continue
                if not isinstance(event, TextDelta):
                    yield event
                    continue
                text = stops.feed(event.text)
                if text:
                    if limit is not None:
                        text, cut = _cut_to_limit(text, limit - progress.text_tokens)
                        if cut:
                            progress.finish = Finish("length")
                    progress.text_tokens += estimate_tokens(text)
                    progress.output_chars.append(text)
                    if text:
                        yield TextDelta(text)
                if stops.matched is not None or (progress.finish and progress.finish.reason == "length"):
                    break
            tail = stops.flush()
            if tail:
                progress.output_chars.append(tail)
                yield TextDelta(tail)
        finally:
            await _close(upstream)
        usage = progress.usage or Usage(
            input_tokens=estimate_tokens(_prompt_text(request)),
            output_tokens=progress.text_tokens,
            estimated=True,
        )
        if stops.matched is not None:
            finish = Finish("stop_sequence", stop_sequence=stops.matched)
        else:
            finish = progress.finish or Finish("stop")
        elapsed = time.monotonic() - started - (outcome.ttft or 0.0)
        if elapsed > 0 and usage.output_tokens:
            outcome.tokens_per_s = usage.output_tokens / elapsed
        yield usage
        yield finish


def _cut_to_limit(text: str, remaining: int) -> tuple[str, bool]:
    if remaining <= 0:
        return "", True
    if estimate_tokens(text) <= remaining:
        return text, False
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= remaining:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo], True


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
