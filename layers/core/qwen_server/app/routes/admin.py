"""Operator routes, guarded by ADMIN_API_KEYS: see the pool's accounts, and put a disabled one back.

Disabling lapses on its own (ACCOUNT_DISABLE_SECONDS); `enable` is for the owner who fixed the credential
and does not want to wait. The state lives in the store, so every instance sees it within a second.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.app.auth import require_admin
from qwen_server.app.http import JSONBytes
from qwen_server.app.runtime import get_runtime
from qwen_server.config import get_settings
from qwen_server.core.errors import NotFound


async def list_accounts(request: Request) -> Response:
    require_admin(request, get_settings().admin_keys())
    runtime = await get_runtime()
    return JSONBytes({"object": "list", "data": await runtime.pool.snapshot()})


async def enable_account(request: Request) -> Response:
    require_admin(request, get_settings().admin_keys())
    runtime = await get_runtime()
    account_id = request.path_params["account_id"]
    if account_id not in {a.id for a in runtime.pool.accounts()}:
        raise NotFound(f"no configured account has the id {account_id!r}", code="account_not_found")
    await runtime.pool.enable(account_id)
    row = next(r for r in await runtime.pool.snapshot() if r["id"] == account_id)
    return JSONBytes(row)
