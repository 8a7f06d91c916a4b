"""Admin keys fail closed and never throw on an odd key."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from qwen_server.app.auth import require_admin
from qwen_server.core.errors import AuthenticationFailed, PermissionDenied


def request_with(key: bytes | None) -> Request:
    headers = [(b"authorization", b"Bearer " + key)] if key is not None else []
    return Request({"type": "http", "method": "GET", "path": "/admin/accounts", "headers": headers})


def test_unset_admin_keys_close_the_routes_and_say_how_to_open_them() -> None:
    with pytest.raises(PermissionDenied, match="set ADMIN_API_KEYS"):
        require_admin(request_with(b"anything"), frozenset())


def test_no_key_is_401_a_wrong_key_403_the_right_key_passes() -> None:
    keys = frozenset({"admin-key"})
    with pytest.raises(AuthenticationFailed):
        require_admin(request_with(None), keys)
    with pytest.raises(PermissionDenied, match="not one of ADMIN_API_KEYS"):
        require_admin(request_with(b"client-key"), keys)
    with pytest.raises(PermissionDenied):
        require_admin(request_with("cl\u00e9".encode("latin-1")), keys)  # non-ASCII: refused, no TypeError
    require_admin(request_with(b"admin-key"), keys)
