"""Operator routes, guarded by ADMIN_API_KEYS: the pool's accounts with state and reason, enable / disable /
re-probe one, reload the account list, and usage by tenant.

Disabling lapses on its own (ACCOUNT_DISABLE_SECONDS); `enable` is for the owner who fixed the credential
and does not want to wait. The state lives in the store, so every instance sees it within a second.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.app.auth import require_admin
from qwen_server.app.http import JSONBytes, read_body
from qwen_server.app.runtime import Runtime, runtime_of, settings_of
from qwen_server.core.errors import InvalidRequest, NotFound
from qwen_server.providers.base import Account

MAX_BODY = 64 * 1024


async def admin_runtime(request: Request) -> Runtime:
    """The runtime, once the request carries one of ADMIN_API_KEYS."""
    require_admin(request, settings_of(request).admin_keys())
    return await runtime_of(request)


def _account(runtime: Runtime, request: Request) -> Account:
    account_id = request.path_params["account_id"]
    for account in runtime.pool.accounts():
        if account.id == account_id:
            return account
    raise NotFound(f"no configured account has the id {account_id!r}", code="account_not_found")


async def _row(runtime: Runtime, account_id: str) -> dict[str, object]:
    return next(r for r in await runtime.pool.snapshot() if r["id"] == account_id)


async def list_accounts(request: Request) -> Response:
    """The accounts, with `now` (the server's clock, to read `cooldown_until` / `disabled_until` against)
    and where the list was read from (`source`, and `error` when the last reload failed)."""
    runtime = await admin_runtime(request)
    rows = await runtime.pool.snapshot()
    return JSONBytes(
        {
            "object": "list",
            "data": rows,
            "now": time.time(),
            "source": runtime.registry.source,
            "error": runtime.registry.error,
        }
    )


async def enable_account(request: Request) -> Response:
    runtime = await admin_runtime(request)
    account = _account(runtime, request)
    await runtime.pool.enable(account.id)
    return JSONBytes(await _row(runtime, account.id))


async def disable_account(request: Request) -> Response:
    """Body (optional): `{"reason": "...", "seconds": n}`; without `seconds` it lasts until enabled."""
    runtime = await admin_runtime(request)
    account = _account(runtime, request)
    options = await _options(request)
    reason = options.get("reason", "disabled by an operator")
    seconds = options.get("seconds")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidRequest("'reason' must be a non-empty string", param="reason")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0
    ):
        raise InvalidRequest("'seconds' must be a positive number", param="seconds")
    await runtime.pool.disable(account.id, reason[:200], seconds=seconds)
    return JSONBytes(await _row(runtime, account.id))


async def probe_account(request: Request) -> Response:
    """Check the account's credential now (its provider's cheapest authenticated call) and say how it went:
    `verified` true (accepted: auth strikes cleared), false (refused: a strike), null (inconclusive)."""
    runtime = await admin_runtime(request)
    account = _account(runtime, request)
    from qwen_server.pool.state import verify_key

    key = verify_key(account.id)
    for holder in await runtime.pool.store.lease_holders(key):  # a recent check must not stop this one
        await runtime.pool.store.lease_release(key, holder)
    verified = await runtime.pool.verify_account(account)
    return JSONBytes({"verified": verified, "account": await _row(runtime, account.id)})


async def reload_accounts(request: Request) -> Response:
    runtime = await admin_runtime(request)
    runtime.registry.reload()
    return JSONBytes(
        {
            "source": runtime.registry.source,
            "error": runtime.registry.error,
            "accounts": len(runtime.registry.accounts()),
        }
    )


async def usage(request: Request) -> Response:
    """Requests and tokens per tenant (a hash of its key) and UTC day, summed over every instance."""
    runtime = await admin_runtime(request)
    from qwen_server.app.access import usage_ledger

    return JSONBytes({"object": "list", "data": await usage_ledger(runtime).report()})


async def _options(request: Request) -> dict[str, Any]:
    import orjson

    body = await read_body(request, MAX_BODY)
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body must be a JSON object (or empty)") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object (or empty)")
    return data
