"""Settings that parse but cannot work, found before the first request instead of failing each one.

`serve` runs this at start-up and exits with the message; serverless functions, which have no start-up to
stop, run it while building the runtime and answer each request with it (503 `gateway_misconfigured`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qwen_server.config import ConfigError, Settings

if TYPE_CHECKING:
    from qwen_server.pool.registry import AccountRegistry


def check_accounts(registry: AccountRegistry) -> None:
    """Accounts that failed their first load are a configuration error (a reload failure is not: the
    previous list stays in service, see `pool.registry`)."""
    if registry.error is not None:
        raise ConfigError(f"accounts not loaded from {registry.error}")


def check_settings(settings: Settings) -> None:
    """Raise `ConfigError` naming the first variable that cannot work."""
    from qwen_server.core.catalog import ModelCatalog
    from qwen_server.pool.registry import AccountRegistry

    ModelCatalog(settings.model_aliases, settings.default_model)
    from qwen_server.app.auth import tenant_id
    from qwen_server.app.ratelimit import LimitTable

    LimitTable(settings.rate_limit_rpm, settings.rate_limit_tpm, settings.rate_limits, tenant_id)
    check_accounts(AccountRegistry(settings.qwen_accounts, settings.qwen_accounts_file))
    check_protocol()


def check_protocol() -> None:
    """`QWEN_PROTOCOL_OVERRIDES` must parse and leave a usable protocol (it names the key that does not)."""
    from qwen_server.providers.qwen_web import protocol

    try:
        protocol.load_from_env()
    except protocol.ProtocolError as exc:
        raise ConfigError(str(exc)) from None
