"""One request end to end: admit → stream from an account with failover → record the outcome.

The API layers call `Gateway.stream(request)` and get neutral events. Admission (`scheduler.admit`) waits in
the fair queue for a class slot *and* an account slot (`AccountClaim`), so the upstream never sees more than
an account's `max_concurrent`. Everything before the first event is retried on another account when the
error allows it (within the pool's retry budget). After the first event the client has bytes: a break then
(a dropped connection, an idle timeout, an in-stream error) is continued on another account from the partial
answer (`core.continuation`), and the client sees one answer. Output post-processing the web API cannot do itself (stop sequences, max_tokens, usage
estimates, tool-call parsing) happens here, once, for every upstream; an output contract (`core.contract`)
is checked once per request.

Every attempt's cleanup (closing the upstream, releasing the account slot, learning from the outcome) runs
through `cleanup.complete`, so it finishes even when the client's disconnect cancels the request halfway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from qwen_server.core import cleanup
from qwen_server.core.catalog import ModelCatalog
from qwen_server.core.continuation import (
    MAX_CONTINUATIONS,
    FailoverCounters,
    OverlapTrimmer,
    Transcript,
    continuation_request,
)
from qwen_server.core.contract import OutputContract, merge_usage
from qwen_server.core.errors import GatewayError, InvalidModelOutput, Overloaded, UpstreamTimeout
from qwen_server.core.model import ChatRequest, Event, Flush, TextDelta, ThinkingDelta, Usage
from qwen_server.core.output import OutputShaper
from qwen_server.core.tokens import estimate_tokens
from qwen_server.media.fetch import FetchPolicy
from qwen_server.media.prepare import MODEL_CANDIDATES
from qwen_server.media.prepare import prepare as prepare_media
from qwen_server.media.resolve import FileSource
from qwen_server.models_directory import ModelsDirectory
from qwen_server.observability import request_log
from qwen_server.pool.choice import Choice, Outcome
from qwen_server.pool.pool import AccountPool
from qwen_server.pool.retry_budget import RETRY_PATIENCE
from qwen_server.providers.base import ModelInfo, Provider
from qwen_server.scheduler.base import Offer, RequestClass, Scheduler

MAX_ATTEMPTS = 4


@dataclass(slots=True)
class AccountClaim:
    """An account slot for the request's model, taken by the scheduler when it is the request's turn."""

    pool: AccountPool
    request: ChatRequest
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = self.request.model

    async def take(self) -> Choice | None:
        return await self.pool.choose(self.request.model, session_id=self.request.session_id)

    async def give_back(self, value: Choice) -> None:
        await self.pool.release(value)

    async def offer(self) -> Offer[Choice] | None:
        return await self.pool.offer(self.request.model, self.request.session_id)

    def deferred_release(self, value: Choice) -> tuple[str, str] | None:
        return self.pool.deferred_release(value)

    def released(self, value: Choice) -> None:
        self.pool.released(value)


@dataclass(slots=True)
class _Attempt:
    """One try on one account: the upstream stream, its first event, and how it went."""

    choice: Choice
    request: ChatRequest  # as this upstream kind needs it (tools native or rendered into the prompt)
    native: bool
    upstream: AsyncIterator[Event]
    started: float = field(default_factory=time.monotonic)
    first: Event | None = None
    outcome: Outcome = field(default_factory=lambda: Outcome(ok=False))
    retry: bool = False  # holds a retry from the pool's budget until it settles


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
        fenced_tool_calls: bool = False,
        fetch_policy: FetchPolicy | None = None,
        file_source: FileSource | None = None,
    ) -> None:
        self.pool = pool
        self.scheduler = scheduler
        self.providers = providers
        self.catalog = catalog
        self.first_byte_timeout = first_byte_timeout
        self.failover = FailoverCounters()
        self.fenced_tool_calls = fenced_tool_calls
        self.fetch_policy = fetch_policy or FetchPolicy()  # how client URLs in message content are read
        self.file_source = file_source  # what a `file_id` in message content names (the Files API)
        self.models = models or ModelsDirectory(
            pool.registry, providers, catalog, cache_seconds=models_cache_seconds
        )

    # ---- models (models_directory.py) -------------------------------------------------------------------
    async def upstream_models(self) -> list[ModelInfo]:
        return await self.models.upstream_models()

    async def resolve_model(self, name: str, request: ChatRequest | None = None) -> tuple[str, bool | None]:
        """(upstream model id, thinking switch from an alias). For a family alias (`gpt-*`, `claude-*`, ...)
        the family goes with `request`, so `stream` can pick the member that serves its media and thinking."""
        resolved = await self.models.resolved(name)
        if request is not None and resolved.candidates:
            request.extra[MODEL_CANDIDATES] = resolved.candidates
        return resolved.upstream, resolved.thinking

    # ---- chat -------------------------------------------------------------------------------------------
    async def stream(self, request: ChatRequest, cls: RequestClass = "chat") -> AsyncIterator[Event]:
        """Neutral events of the answer; always ends with one `Usage` and one `Finish`."""
        contract = OutputContract.of(request)
        # media refusals are 400s before the request queues
        await prepare_media(request, self.models.capabilities, self.fetch_policy, self.file_source)
        self.pool.retries.begin()  # a request in flight, as the retry budget counts them
        try:
            async with self.scheduler.admit(cls, request.tenant, AccountClaim(self.pool, request)) as choice:
                if not contract.checked:
                    # the admitted slot is freed with the class slot, in one round trip, when the context exits;
                    # the attempt is closed first (an abandoned `async for` would leave that to the garbage
                    # collector), so it has settled by then
                    async with aclosing(
                        self._attempt(request, contract, choice, defer_release=True)
                    ) as events:
                        async for event in events:
                            yield event
                    return
                # an answer that must meet a contract is buffered, checked, and asked for once more if it fails
                first = [e async for e in self._attempt(request, contract, choice)]
                fixed, problem = contract.verdict(request, first)
                if problem is None:
                    for event in fixed:
                        yield event
                    return
                retry = contract.retry(request, first, problem)
                second = [e async for e in self._attempt(retry, contract, None)]
                fixed, problem = contract.verdict(request, second)
                if problem is not None and contract.wants_json:
                    raise InvalidModelOutput(
                        f"The model's answer was not the JSON the request's response_format asks for, twice "
                        f"(the second time {problem}); no answer is returned rather than an invalid one."
                    )
                for event in merge_usage(first, fixed):
                    yield event
        finally:
            self.pool.retries.end()

    def failover_snapshot(self) -> dict[str, int]:
        retries = self.pool.retries
        return self.failover.snapshot(retries.active, retries.retrying)

    async def _attempt(
        self,
        request: ChatRequest,
        contract: OutputContract,
        choice: Choice | None,
        *,
        defer_release: bool = False,
    ) -> AsyncGenerator[Event, None]:
        attempt: _Attempt | None = await self._open(request, contract, choice)
        assert attempt is not None
        defer = defer_release and attempt.choice is choice  # a failover attempt frees its own slot
        # an upstream with native tools is OpenAI-compatible and stops at max_tokens by itself
        shaper = OutputShaper(
            attempt.request,
            native_tools=attempt.native,
            upstream_limits=attempt.native,
            fenced_calls=self.fenced_tool_calls,
        )
        transcript = Transcript()
        trimmer: OverlapTrimmer | None = None
        continued = 0
        broke_on: set[str] = set()  # accounts whose stream broke: a continuation goes elsewhere
        try:
            while True:
                assert attempt is not None
                outcome = attempt.outcome
                events = _prepend(attempt.first, attempt.upstream)
                try:
                    async with aclosing(_trimmed(events, trimmer) if trimmer else events) as stream:
                        async for event in stream:
                            if outcome.ttft is None and isinstance(event, TextDelta | ThinkingDelta):
                                outcome.ttft = time.monotonic() - attempt.started
                            transcript.note(event)
                            for shaped in shaper.feed(event):
                                yield shaped
                            if shaper.done:
                                break
                    break
                except GatewayError as exc:
                    outcome.error = exc
                    if shaper.done or not transcript.can_continue(exc):
                        raise
                    # the answer broke after the client had bytes: settle this account, go on elsewhere
                    broken, attempt = attempt, None
                    broke_on.add(broken.choice.account.id)
                    _time(broken, shaper)
                    await cleanup.complete(self._settle(broken, defer=defer))
                    defer = False
                    attempt = await self._continuation(
                        request, contract, transcript, exc, continued, broke_on
                    )
                    continued += 1
                    trimmer = OverlapTrimmer(transcript.partial)
            for shaped in shaper.close():
                yield shaped
            attempt.outcome.ok = True
            if continued:
                self.failover.continued_ok += 1
        except GatewayError as exc:
            if attempt is not None:
                attempt.outcome.error = exc
            raise
        finally:
            if attempt is not None:
                _time(attempt, shaper)
                await cleanup.complete(self._settle(attempt, defer=defer))
        prepared = attempt.request
        for event in shaper.final(lambda: estimate_tokens(_prompt_text(prepared))):
            yield event

    async def _continuation(
        self,
        request: ChatRequest,
        contract: OutputContract,
        transcript: Transcript,
        error: GatewayError,
        continued: int,
        exclude: set[str],
    ) -> _Attempt:
        """An attempt on another account that continues the partial answer; `error` (the break) is raised
        when the answer cannot be continued (attempts used up, retry budget spent, nobody left)."""
        if continued >= MAX_CONTINUATIONS:
            self.failover.continuations_refused += 1
            raise error
        try:
            attempt = await self._open(
                continuation_request(request, transcript.partial), contract, None, retry=True, exclude=exclude
            )
        except GatewayError:
            self.failover.continuations_refused += 1
            raise error from None
        self.failover.continuations += 1
        return attempt

    async def _open(
        self,
        request: ChatRequest,
        contract: OutputContract,
        choice: Choice | None,
        *,
        retry: bool = False,
        exclude: set[str] | None = None,
    ) -> _Attempt:
        """An attempt with its first event, failing over while nothing was sent to the client. With `retry`
        even the first account tried here takes a retry from the budget (a continuation)."""
        tried: set[str] = set(exclude or ())
        last_error: GatewayError | None = None
        budget_spent = False
        for number in range(MAX_ATTEMPTS):
            granted = False
            if choice is None:
                if number or retry:
                    if not await self.pool.allow_retry(patience=min(RETRY_PATIENCE, self.first_byte_timeout)):
                        self.failover.retries_refused += 1
                        budget_spent = True
                        if last_error is None:
                            raise Overloaded(
                                "the gateway's retry budget is spent", code="retry_budget", retry_after=1.0
                            )
                        break
                    granted = True
                try:
                    choice = await self.pool.wait_choose(
                        request.model,
                        patience=self.first_byte_timeout,
                        session_id=request.session_id,
                        exclude=frozenset(tried),
                    )
                except BaseException as exc:  # nobody left, or the client went away while waiting
                    if granted:
                        self.pool.retry_done()
                    if not isinstance(exc, GatewayError) or last_error is None:
                        raise
                    break  # nobody left to try: report what the last account said
            attempt = self._start(request, contract, choice)
            attempt.retry = granted
            choice = None
            try:
                async with asyncio.timeout(self.first_byte_timeout):
                    attempt.first = await anext(attempt.upstream)
            except StopAsyncIteration:
                attempt.first = None
            except BaseException as exc:  # an upstream failure, a bug of ours, or the client went away
                if isinstance(exc, TimeoutError):
                    exc = UpstreamTimeout(f"no answer within {self.first_byte_timeout:.0f}s")
                attempt.outcome.error = exc if isinstance(exc, GatewayError) else None
                attempt.outcome.ttft = time.monotonic() - attempt.started
                await cleanup.complete(self._settle(attempt))
                if not isinstance(exc, GatewayError) or not exc.retryable:
                    raise exc from None
                last_error = exc
                tried.add(attempt.choice.account.id)
                continue
            return attempt
        assert last_error is not None
        if budget_spent:
            # Failover was cut short to avoid a retry storm, not because every account failed: a client
            # retry after a short pause may well land on another account, whatever this one's own wait.
            last_error.retry_after = 1.0
        else:
            last_error.gave_up = True  # type: ignore[attr-defined]
        raise last_error

    def _start(self, request: ChatRequest, contract: OutputContract, choice: Choice) -> _Attempt:
        provider = self.providers[choice.account.kind]
        request_log.note(account=choice.account.name)
        native = bool(getattr(provider, "native_tools", False))
        prepared = contract.for_upstream(request, native)
        return _Attempt(choice, prepared, native, provider.stream(prepared, choice.account))

    async def _settle(self, attempt: _Attempt, *, defer: bool = False) -> None:
        """Close the upstream, then free the account slot (unless `defer`: the scheduler frees it with the
        class slot) and learn from the outcome."""
        try:
            await _close(attempt.upstream)
        finally:
            if attempt.retry:
                self.pool.retry_done()
            await self.pool.record(attempt.choice, attempt.outcome, release=not defer)


def _prompt_text(request: ChatRequest) -> str:
    return "\n".join(m.text for m in request.messages) + str(request.extra.get("system_extra") or "")


def _time(attempt: _Attempt, shaper: OutputShaper) -> None:
    """The attempt's duration and, when it went well, its generation speed (for the pool's latency score)."""
    outcome = attempt.outcome
    outcome.duration = time.monotonic() - attempt.started
    generating = outcome.duration - (outcome.ttft or 0.0)
    if outcome.ok and generating > 0 and shaper.rough_output_tokens:
        outcome.tokens_per_s = shaper.rough_output_tokens / generating


async def _trimmed(events: AsyncIterator[Event], trimmer: OverlapTrimmer) -> AsyncGenerator[Event, None]:
    """A continuation's events as they join the partial answer: its repeat of that answer dropped, its own
    think phase and usage left out (the first attempt's usage report stands; the shaper counts the rest)."""
    async for event in events:
        if isinstance(event, TextDelta):
            text = trimmer.feed(event.text)
            if text:
                yield event if text == event.text else TextDelta(text)
            continue
        if isinstance(event, ThinkingDelta | Usage):
            continue
        if not isinstance(event, Flush):
            held = trimmer.close()
            if held:
                yield TextDelta(held)
        yield event
    held = trimmer.close()
    if held:
        yield TextDelta(held)


async def _prepend(first: Event | None, rest: AsyncIterator[Event]) -> AsyncGenerator[Event, None]:
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
