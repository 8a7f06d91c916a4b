"""Which models the gateway serves, and which accounts serve each.

The served set is the union of every account's explicit `models` and one successful listing per upstream,
an upstream being a (kind, base_url) pair: accounts that name their models are taken at their word, the
others are grouped and listed by one of their accounts (the next one when it fails). So a web account and an
OpenAI-kind account with `"models": ["qwen3-32b"]` together serve the web's list plus `qwen3-32b`.

Listings are cached for `cache_seconds` and then refreshed in the background while the old list is served.
A failed listing (an error, a malformed body, no answer within `timeout`) is remembered for
`failure_seconds`, so a broken upstream costs one short wait per interval, never one per request. Each
upstream has at most one listing in flight; callers without an earlier list wait for it, others keep the
old one, and upstreams never wait on each other.

`accounts()` is the pool's account source: each account without explicit models is narrowed to its
upstream's last listing, so a model goes only to accounts whose upstream has it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from qwen_server.core.catalog import ModelCatalog, Resolved
from qwen_server.core.errors import GatewayError, NotFound, UpstreamTimeout
from qwen_server.media.capability import ModelCapabilities
from qwen_server.pool.choice import AccountSource
from qwen_server.providers.base import Account, ModelInfo, Provider

log = logging.getLogger("qwen_server.models")

Upstream = tuple[str, str]  # (kind, base_url)


@dataclass(frozen=True, slots=True)
class Listing:
    models: list[ModelInfo]
    complete: bool  # every upstream's list is known: a model outside `models` is served by nobody
    ids: frozenset[str] = frozenset()


class _Entry:
    """One upstream's last good list, how long the current verdict holds, and the listing in flight."""

    __slots__ = ("fresh_until", "ids", "models", "task")

    def __init__(self) -> None:
        self.models: list[ModelInfo] | None = None
        self.ids: tuple[str, ...] = ()
        self.fresh_until = 0.0
        self.task: asyncio.Task[None] | None = None


class ModelsDirectory:
    def __init__(
        self,
        source: AccountSource,
        providers: Mapping[str, Provider],
        catalog: ModelCatalog,
        *,
        cache_seconds: float = 300.0,
        failure_seconds: float = 30.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.providers = providers
        self.catalog = catalog
        self.cache_seconds = cache_seconds
        self.failure_seconds = failure_seconds
        self.timeout = timeout
        self._clock = clock
        self._entries: dict[Upstream, _Entry] = {}
        self._narrowed: dict[str, tuple[Account, tuple[str, ...], Account]] = {}
        self._last: tuple[list[Account], float, Listing] | None = None  # what `listing` built, for reuse
        self._changes = 0

    # ---- the pool's view -----------------------------------------------------------------------------
    def accounts(self) -> list[Account]:
        """The configured accounts, those without explicit `models` narrowed to their upstream's listing
        once one is known (until then they are offered every model, as configured)."""
        out: list[Account] = []
        for account in self.source.accounts():
            entry = self._entries.get((account.kind, account.base_url)) if account.models is None else None
            if entry is not None and entry.models is not None:
                account = self._narrow(account, entry.ids)
            out.append(account)
        return out

    def _narrow(self, account: Account, ids: tuple[str, ...]) -> Account:
        cached = self._narrowed.get(account.id)
        if cached is not None and cached[0] == account and cached[1] is ids:
            return cached[2]
        narrowed = dataclasses.replace(account, models=ids)
        self._narrowed[account.id] = (account, ids, narrowed)
        return narrowed

    # ---- the API's view ------------------------------------------------------------------------------
    async def listing(self) -> Listing:
        """Explicit models and every upstream's list, in account order (a listed entry, which carries
        capabilities, wins over a bare explicit id). The shipped fallback list stands in for an upstream
        whose list was never obtained, and for a gateway without accounts."""
        accounts = self.source.accounts()
        last = self._last
        if last is not None and last[0] is accounts and self._clock() < last[1]:
            return last[2]  # same accounts, every list still fresh: the same answer (every request asks)
        changes = self._changes
        upstreams: dict[Upstream, list[Account]] = {}
        for account in accounts:
            if account.models is None:
                upstreams.setdefault((account.kind, account.base_url), []).append(account)
        lists = dict(
            zip(
                upstreams,
                await asyncio.gather(*(self._list(key, group) for key, group in upstreams.items())),
                strict=True,
            )
        )
        seen: dict[str, ModelInfo] = {}
        for account in accounts:
            if account.models is not None:
                for model_id in account.models:
                    seen.setdefault(model_id, ModelInfo(id=model_id, owned_by=account.kind))
        for listed in lists.values():
            for info in listed or ():
                seen[info.id] = info
        complete = all(listed is not None for listed in lists.values())
        if not complete or not seen:
            for row in self.catalog.fallback_models:
                seen.setdefault(
                    row["id"], ModelInfo(id=row["id"], capabilities=tuple(row.get("capabilities") or ()))
                )
        listing = Listing(list(seen.values()), complete, frozenset(seen))
        if complete and changes == self._changes and all(self._entries[k].task is None for k in upstreams):
            now = self._clock()
            fresh_until = min((self._entries[key].fresh_until for key in upstreams), default=now + 1.0)
            self._last = (accounts, min(fresh_until, now + 1.0), listing)
        return listing

    async def capabilities(self) -> ModelCapabilities:
        """Model id -> capabilities, for every model something describes (listing first, then catalogue),
        and which models are served (`media.prepare` routes a family alias and checks media by it)."""
        table: dict[str, frozenset[str]] = {}
        for row in self.catalog.fallback_models:
            if row.get("id") and row.get("capabilities") is not None:
                table[str(row["id"])] = frozenset(str(c) for c in row["capabilities"])
        listing = await self.listing()
        for info in listing.models:
            if info.capabilities:
                table[info.id] = frozenset(info.capabilities)
        return ModelCapabilities(table, listing.ids, listing.complete)

    async def upstream_models(self) -> list[ModelInfo]:
        return (await self.listing()).models

    async def resolve(self, name: str) -> tuple[str, bool | None]:
        """(upstream model id, thinking switch from an alias)."""
        resolved = await self.resolved(name)
        return resolved.upstream, resolved.thinking

    async def resolved(self, name: str) -> Resolved:
        """What a requested name stands for. An unknown name is a 404 only when every upstream's list is
        known: while one cannot be listed, the upstream itself gets to decide. A name an alias pattern
        covers (`gpt-*`, `o*`) that an upstream serves under that very name is served as itself."""
        resolved = self.catalog.resolve(name)
        if self.catalog.is_alias(name) and not resolved.pattern:
            return resolved
        listing = await self.listing()
        if resolved.pattern:
            return Resolved(name, name) if name in listing.ids else resolved
        if listing.complete and resolved.upstream not in listing.ids:
            raise NotFound(
                f"The model `{name}` does not exist or is not served by this gateway", param="model"
            )
        return resolved

    # ---- one upstream --------------------------------------------------------------------------------
    async def _list(self, key: Upstream, accounts: list[Account]) -> list[ModelInfo] | None:
        """The upstream's list: cached, stale while a refresh runs, or None when it was never obtained."""
        entry = self._entries.setdefault(key, _Entry())
        if self._clock() < entry.fresh_until:
            return entry.models
        if entry.task is None:
            entry.task = asyncio.get_running_loop().create_task(self._refresh(key, entry, accounts))
        if entry.models is not None:
            return entry.models
        await asyncio.shield(entry.task)  # a caller that goes away leaves the listing to the others
        return entry.models

    async def _refresh(self, key: Upstream, entry: _Entry, accounts: list[Account]) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                models = await self._first_answer(accounts)
        except (GatewayError, TimeoutError) as exc:
            reason = exc.message if isinstance(exc, GatewayError) else f"no answer within {self.timeout:g}s"
            log.warning("listing the models of %s %s failed: %s", key[0], key[1], reason)
            entry.fresh_until = self._clock() + self.failure_seconds
        else:
            entry.models, entry.ids = models, tuple(m.id for m in models)
            entry.fresh_until = self._clock() + self.cache_seconds
        finally:
            entry.task = None
            self._changes += 1  # a listing built before this must not be reused

    async def _first_answer(self, accounts: list[Account]) -> list[ModelInfo]:
        last: GatewayError = UpstreamTimeout("no account could list the models")
        for account in accounts:
            try:
                return await self.providers[account.kind].list_models(account)
            except GatewayError as exc:
                last = exc
        raise last
