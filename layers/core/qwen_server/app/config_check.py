"""Settings that parse but cannot work, found before the first request instead of failing each one.

`serve` and `worker` run this at start-up and exit with the message; serverless functions, which have no
start-up to stop, meet the same errors while building the runtime and answer each request with them (503
`gateway_misconfigured`).
"""

from __future__ import annotations

from qwen_server.config import ConfigError, Settings


def check_settings(settings: Settings) -> None:
    """Raise `ConfigError` naming the first variable that cannot work."""
    from qwen_server.core.catalog import ModelCatalog
    from qwen_server.pool.registry import AccountRegistry

    ModelCatalog(settings.model_aliases, settings.default_model)
    from qwen_server.app.auth import tenant_id
    from qwen_server.app.ratelimit import LimitTable

    LimitTable(settings.rate_limit_rpm, settings.rate_limit_tpm, settings.rate_limits, tenant_id)
    AccountRegistry(settings.qwen_accounts, settings.qwen_accounts_file).check_loaded()
    check_protocol()


def check_protocol() -> None:
    """`QWEN_PROTOCOL_OVERRIDES` must parse and leave a usable protocol (it names the key that does not)."""
    from qwen_server.providers.qwen_web import protocol

    try:
        protocol.load_from_env()
    except protocol.ProtocolError as exc:
        raise ConfigError(str(exc)) from None
