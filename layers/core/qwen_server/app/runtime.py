"""The runtime: everything a request needs (settings, store, pool, gateway, clients, blobs, files, media,
batches), composed here once and handed down. Entry points make a `RuntimeCell` and give it to `build_app`;
routes take the runtime from the app's state (`runtime_of(request)`); services get their collaborators as
arguments. Nothing below `app/` imports this module.

Serverless runtimes (Mangum) run the ASGI lifespan on every invocation, so nothing is set up there: the first
request builds the runtime, and later requests in the same instance reuse it. A configuration error found while
building is answered to every request (503 naming the variable) and the build is tried again on the next one:
no crash loop, and no traceback for the client. Parts only some functions use (the blob store, files, media,
batches) are built on their first use, so the chat function never opens the blob store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from starlette.requests import Request

from qwen_server.core.errors import Misconfigured, StoreUnavailable

if TYPE_CHECKING:  # the real imports happen in build_runtime, on the first request, not at cold-start import
    from qwen_server.app.ratelimit import RateLimiter
    from qwen_server.batches.services import BatchServices
    from qwen_server.blob.base import BlobStore
    from qwen_server.blob.service import Blobs
    from qwen_server.config import Settings
    from qwen_server.doctor.upstream_errors import UpstreamErrorLog
    from qwen_server.files.service import Files
    from qwen_server.gateway import Gateway
    from qwen_server.generation.service import Media
    from qwen_server.media.resolve import StoredFile
    from qwen_server.observability.metrics import RequestMetrics
    from qwen_server.observability.usage import UsageLedger
    from qwen_server.pool.pool import AccountPool
    from qwen_server.pool.registry import AccountRegistry
    from qwen_server.providers.base import Account, Provider
    from qwen_server.providers.http import ClientRegistry
    from qwen_server.providers.qwen_web.auth import TokenManager
    from qwen_server.providers.qwen_web.jar import SessionJar
    from qwen_server.store import Store

log = logging.getLogger("qwen_server")
T = TypeVar("T")


class Lazy(Generic[T]):
    """A value built by `build` on the first `get()`, once even when many requests ask at the same moment; a
    build that raises is tried again by the next `get()`."""

    def __init__(self, build: Callable[[], Awaitable[T]]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def value(self) -> T | None:
        """The value if it was built (nothing is built to answer this)."""
        return self._value

    async def get(self) -> T:
        if self._value is not None:
            return self._value
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._value is None:
                self._value = await self._build()
        return self._value


class Runtime:
    """The composed process: the parts every function uses, and the ones built on first use."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: AccountRegistry,
        pool: AccountPool,
        gateway: Gateway,
        clients: ClientRegistry,
        metrics: RequestMetrics,
        upstream_errors: UpstreamErrorLog,
        blobs: Lazy[Blobs],
        files: Lazy[Files],
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.pool = pool
        self.gateway = gateway
        self.clients = clients
        self.metrics = metrics
        self.upstream_errors = upstream_errors  # the admin page's recent errors
        self.limiter: RateLimiter | None = None  # built by `limits()` on first use
        self.usage: UsageLedger | None = None
        self._blobs = blobs
        self._files = files
        self._media = Lazy(self._open_media)
        self._batches = Lazy(self._open_batches)

    async def blobs(self) -> Blobs:
        return await self._blobs.get()

    async def files(self) -> Files:
        return await self._files.get()

    async def media(self) -> Media:
        return await self._media.get()

    async def batches(self) -> BatchServices:
        return await self._batches.get()

    async def _open_media(self) -> Media:
        from qwen_server.generation.service import build_media

        settings = self.settings
        return build_media(
            self.gateway,
            self.clients,
            self.store,
            await self.blobs(),
            patience=settings.upstream_first_byte_timeout,
            poll_seconds=settings.video_poll_seconds,
            keep_seconds=settings.video_keep_seconds,
        )

    def limits(self) -> tuple[RateLimiter, UsageLedger]:
        """The tenants' rate limiter and usage ledger, built on first use: live requests and batch lines
        count against the same windows and rows. A malformed `RATE_LIMITS` is a 503 naming it."""
        from qwen_server.app.ratelimit import LimitTable, RateLimiter
        from qwen_server.config import ConfigError
        from qwen_server.core.tenants import tenant_id
        from qwen_server.observability.usage import UsageLedger

        if self.limiter is None:
            settings = self.settings
            try:
                table = LimitTable(
                    settings.rate_limit_rpm, settings.rate_limit_tpm, settings.rate_limits, tenant_id
                )
            except ConfigError as exc:
                raise Misconfigured(f"The gateway is misconfigured: {exc}") from None
            self.limiter = RateLimiter(self.store, table)
        if self.usage is None:
            self.usage = UsageLedger(self.store)
        return self.limiter, self.usage

    async def _open_batches(self) -> BatchServices:
        from qwen_server.app.ratelimit import BatchBudget
        from qwen_server.batches.services import BatchServices

        settings = self.settings
        return BatchServices(
            budget=BatchBudget(*self.limits()),
            gateway=self.gateway,
            clients=self.clients,
            files=await self.files(),
            lease_seconds=settings.batch_lease_seconds,
            line_concurrency=settings.sched_batch_concurrent,
            tick_seconds=settings.batch_tick_seconds,
        )


def build_runtime(settings: Settings) -> Runtime:
    from qwen_server.core.catalog import ModelCatalog
    from qwen_server.doctor.upstream_errors import UpstreamErrorLog
    from qwen_server.gateway import Gateway
    from qwen_server.media.fetch import FetchPolicy
    from qwen_server.models_directory import ModelsDirectory
    from qwen_server.observability.metrics import RequestMetrics
    from qwen_server.pool.config import PoolConfig
    from qwen_server.pool.health import HealthConfig
    from qwen_server.pool.pool import AccountPool
    from qwen_server.pool.registry import AccountRegistry
    from qwen_server.pool.retry_budget import RetryBudget
    from qwen_server.providers.http import ClientRegistry
    from qwen_server.scheduler import build_scheduler
    from qwen_server.store import open_store

    registry = AccountRegistry(settings.qwen_accounts, settings.qwen_accounts_file)
    registry.check_loaded()
    from qwen_server.core import sanitise

    sanitise.watch(registry.accounts)  # upstream error text never shows an account's values
    store = open_store(settings.resolved_store_url())
    clients = ClientRegistry(
        connect_timeout=settings.upstream_connect_timeout, read_timeout=settings.upstream_idle_timeout
    )
    providers = _providers(settings, clients, store)
    catalog = ModelCatalog(settings.model_aliases, settings.default_model)
    models = ModelsDirectory(registry, providers, catalog, cache_seconds=settings.models_cache_seconds)
    pool = AccountPool(
        models,  # the registry's accounts, narrowed to the models their upstream lists
        store,
        config=PoolConfig(
            lease_seconds=settings.account_lease_seconds,
            health=HealthConfig(disable_seconds=settings.account_disable_seconds),
            budget=RetryBudget(ratio=settings.retry_budget_ratio, minimum=settings.retry_budget_min),
        ),
        verify=_verifier(providers),
    )
    scheduler = build_scheduler(store, settings)
    pool.on_release(scheduler.wake)  # a freed account slot goes to the next queued request at once
    upstream_errors = UpstreamErrorLog(store)
    pool.on_failure(upstream_errors.note)  # the admin page's recent errors, shared through the store
    blobs = Lazy(lambda: _open_blobs(settings, store))
    files = Lazy(lambda: _open_files(store, blobs))  # its blob store opens with the first bytes it moves

    async def stored_file(file_id: str, tenant: str) -> StoredFile | None:
        """What a `file_id` in message content names: the tenant's file in the Files API, unread."""
        return await (await files.get()).stored(file_id, tenant)

    gateway = Gateway(
        pool=pool,
        scheduler=scheduler,
        providers=providers,
        catalog=catalog,
        first_byte_timeout=settings.upstream_first_byte_timeout,
        models=models,
        fenced_tool_calls=settings.tool_calls_in_code_fences,
        fetch_policy=FetchPolicy.from_settings(settings),
        file_source=stored_file,
    )
    return Runtime(
        settings, store, registry, pool, gateway, clients, RequestMetrics(), upstream_errors, blobs, files
    )


async def _open_blobs(settings: Settings, store: Store) -> Blobs:
    from qwen_server.blob.service import open_blobs

    return await open_blobs(settings, store)


async def _open_files(store: Store, blobs: Lazy[Blobs]) -> Files:
    from qwen_server.files.service import Files

    async def blob_store() -> BlobStore:
        return (await blobs.get()).store

    return Files(store, blob_store)


def _verifier(providers: dict[str, Provider]) -> Callable[[Account], Awaitable[None]]:
    """The pool's credential check: the account's own provider asks its cheapest authenticated endpoint."""

    async def verify(account: Account) -> None:
        await providers[account.kind].verify(account)

    return verify


def _providers(settings: Settings, clients: ClientRegistry, store: Store) -> dict[str, Provider]:
    from qwen_server.providers.openai_compat import OpenAICompatProvider
    from qwen_server.providers.qwen_web.auth import TokenManager
    from qwen_server.providers.qwen_web.jar import SessionJar
    from qwen_server.providers.qwen_web.provider import QwenWebProvider

    anti_bot = {
        "bx-v": settings.qwen_bx_v or "",
        "bx-ua": settings.qwen_bx_ua or "",
        "bx-umidtoken": settings.qwen_bx_umidtoken or "",
    }
    jar = SessionJar(store)
    tokens = TokenManager(store, user_agent=settings.qwen_user_agent, anti_bot=anti_bot, jar=jar)
    compat = OpenAICompatProvider(clients)
    return {
        "qwen-web": QwenWebProvider(
            clients,
            tokens,
            user_agent=settings.qwen_user_agent,
            anti_bot=anti_bot,
            delete_chats=settings.delete_chats,
            jar=jar,
            on_blocked=_browser_refresh(settings, store, jar, tokens),
            large_text_threshold=settings.large_text_threshold,
            store=store,
            code_mode=settings.special_code_mode,
            ready_chats=settings.ready_chats,
            ready_chat_seconds=settings.ready_chat_seconds,
        ),
        "openai": compat,
        "dashscope": compat,
    }


def _browser_refresh(
    settings: Settings, store: Store, jar: SessionJar, tokens: TokenManager
) -> Callable[[Account], None]:
    """Accounts with `browser_login` get their WAF-refused session renewed by a headless sign-in."""
    from qwen_server.browser.refresh import BrowserRefresh

    return BrowserRefresh(store, jar, tokens, user_agent=settings.qwen_user_agent).request


def _settings_from_env() -> Settings:
    from qwen_server.config import get_settings

    return get_settings()


class RuntimeCell:
    """The one runtime of an app, made by its entry point and kept in `app.state.runtime`: built from
    `settings()` on the first request that needs it (or handed in whole, as tests do with `holding`)."""

    def __init__(self, settings: Callable[[], Settings] = _settings_from_env) -> None:
        self.settings = settings
        self._runtime = Lazy(self._build)

    @classmethod
    def holding(cls, runtime: Runtime) -> RuntimeCell:
        cell = cls(lambda: runtime.settings)
        cell._runtime._value = runtime
        return cell

    def current(self) -> Runtime | None:
        """The runtime if one was built (metrics must not build one just to count a 404)."""
        return self._runtime.value

    async def get(self) -> Runtime:
        return await self._runtime.get()

    async def batches(self) -> BatchServices:
        """The batch worker's services (`batches.services.BatchSource` for the worker loops)."""
        return await (await self.get()).batches()

    async def media(self) -> Media:
        return await (await self.get()).media()

    async def blob_store(self) -> BlobStore:
        """The blob store (the sweep of `serve` and `worker` asks for it on each pass)."""
        return (await (await self.get()).blobs()).store

    async def _build(self) -> Runtime:
        from qwen_server.config import ConfigError
        from qwen_server.observability.logging import apply_debug
        from qwen_server.store import StoreError

        try:
            settings = self.settings()
            apply_debug(settings.debug)
            runtime = build_runtime(settings)
        except ConfigError as exc:
            log.error("configuration error: %s", exc)
            raise Misconfigured(f"The gateway is misconfigured: {exc}") from None
        except StoreError as exc:
            raise StoreUnavailable(f"the state store is not usable (check STORE_URL): {exc}") from None
        log.debug(
            "runtime ready: %d account(s) from %s, store %s",
            len(runtime.registry.accounts()),
            runtime.registry.source,
            settings.resolved_store_url().partition(":")[0],
        )
        return runtime


def cell_of(request: Request) -> RuntimeCell:
    cell: RuntimeCell = request.app.state.runtime
    return cell


def settings_of(request: Request) -> Settings:
    """The settings of the app serving `request` (read without building the runtime)."""
    return cell_of(request).settings()


async def runtime_of(request: Request) -> Runtime:
    """The runtime of the app serving `request`, built on the first request that asks."""
    return await cell_of(request).get()
