"""Process-wide singletons, built lazily on first use.

Serverless runtimes (Mangum) run the ASGI lifespan on every invocation, so nothing is set up there: the first
request builds the store, pool, scheduler and HTTP clients, and later requests in the same instance reuse them.
A configuration error found while building is answered to every request (503 naming the variable) and the
build is tried again on the next one: no crash loop, and no traceback for the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qwen_server.core.errors import Misconfigured, StoreUnavailable

if TYPE_CHECKING:  # the real imports happen in build_runtime, on the first request, not at cold-start import
    from qwen_server.app.ratelimit import RateLimiter
    from qwen_server.config import Settings
    from qwen_server.gateway import Gateway
    from qwen_server.observability.metrics import RequestMetrics
    from qwen_server.observability.upstream_errors import UpstreamErrorLog
    from qwen_server.observability.usage import UsageLedger
    from qwen_server.pool.pool import AccountPool
    from qwen_server.pool.registry import AccountRegistry
    from qwen_server.providers.base import Account, Provider
    from qwen_server.providers.http import ClientRegistry
    from qwen_server.providers.qwen_web.auth import TokenManager
    from qwen_server.providers.qwen_web.jar import SessionJar
    from qwen_server.store import Store

log = logging.getLogger("qwen_server")


@dataclass
class Runtime:
    settings: Settings
    store: Store
    registry: AccountRegistry
    pool: AccountPool
    gateway: Gateway
    clients: ClientRegistry
    metrics: RequestMetrics
    upstream_errors: UpstreamErrorLog
    limiter: RateLimiter | None = None  # built by app.access on first use
    usage: UsageLedger | None = None


_runtime: Runtime | None = None
_lock: asyncio.Lock | None = None


def build_runtime(settings: Settings) -> Runtime:
    from qwen_server.config_check import check_accounts
    from qwen_server.core.catalog import ModelCatalog
    from qwen_server.gateway import Gateway
    from qwen_server.models_directory import ModelsDirectory
    from qwen_server.observability.metrics import RequestMetrics
    from qwen_server.observability.upstream_errors import UpstreamErrorLog
    from qwen_server.pool.health import HealthConfig
    from qwen_server.pool.pool import AccountPool, PoolConfig
    from qwen_server.pool.registry import AccountRegistry
    from qwen_server.providers.http import ClientRegistry
    from qwen_server.scheduler import build_scheduler
    from qwen_server.store import open_store

    registry = AccountRegistry(settings.qwen_accounts, settings.qwen_accounts_file)
    check_accounts(registry)
    _register_file_sources()
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
        ),
        verify=_verifier(providers),
    )
    scheduler = build_scheduler(store, settings)
    pool.on_release(scheduler.wake)  # a freed account slot goes to the next queued request at once
    upstream_errors = UpstreamErrorLog(store)
    pool.on_failure(upstream_errors.note)  # the admin page's recent errors, shared through the store
    gateway = Gateway(
        pool=pool,
        scheduler=scheduler,
        providers=providers,
        catalog=catalog,
        first_byte_timeout=settings.upstream_first_byte_timeout,
        models=models,
        fenced_tool_calls=settings.tool_calls_in_code_fences,
    )
    return Runtime(settings, store, registry, pool, gateway, clients, RequestMetrics(), upstream_errors)


def _register_file_sources() -> None:
    """`file_id` message parts read the Files API's files (the media pipeline asks its registered sources)."""
    from qwen_server.files.service import media_file_source
    from qwen_server.media.resolve import register_file_source

    register_file_source(media_file_source)


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


async def get_runtime() -> Runtime:
    global _runtime, _lock
    if _runtime is not None:
        return _runtime
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if _runtime is None:
            from qwen_server.config import ConfigError, get_settings
            from qwen_server.observability.logging import apply_debug
            from qwen_server.store import StoreError

            try:
                settings = get_settings()
                apply_debug(settings.debug)
                _runtime = build_runtime(settings)
            except ConfigError as exc:
                log.error("configuration error: %s", exc)
                raise Misconfigured(f"The gateway is misconfigured: {exc}") from None
            except StoreError as exc:
                raise StoreUnavailable(f"the state store is not usable (check STORE_URL): {exc}") from None
            log.debug(
                "runtime ready: %d account(s) from %s, store %s",
                len(_runtime.registry.accounts()),
                _runtime.registry.source,
                settings.resolved_store_url().partition(":")[0],
            )
    return _runtime


def current_runtime() -> Runtime | None:
    """The runtime if one was built (metrics must not build one just to count a 404)."""
    return _runtime


def reset_runtime() -> None:
    """Forget the singletons (tests build fresh ones)."""
    global _runtime, _lock
    from qwen_server.config import get_settings

    _runtime, _lock = None, None
    get_settings.cache_clear()
