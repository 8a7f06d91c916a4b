"""Who a gateway key stands for: the tenant id every store key, limit and usage row is filed under.

Here, below the HTTP layer, because the runtime needs it too: `RATE_LIMITS` names keys, and the limits it
builds (for live requests and batch lines alike) are kept by tenant.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import lru_cache

# Every caller of a gateway without GATEWAY_API_KEYS: whatever key they send (the README's `api_key="anything"`),
# they share one tenant, and so each other's files, batches, stored responses, videos and rate limits.
KEYLESS_TENANT = "anonymous"
_TENANT_ID = re.compile(r"key-[0-9a-f]{12}")


@lru_cache(maxsize=256)
def tenant_id(key: str) -> str:
    """The tenant a key stands for: a short hash, so logs, limits and usage never show the key itself.
    Remembered per key: the same few keys come with every request."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def named_tenants(name: str, tenant_of: Callable[[str], str] = tenant_id) -> set[str]:
    """The tenants a name in the configuration stands for: the key's own tenant, and the name itself where it
    is written as a tenant id (as logged: `key-` and 12 hex digits, or `anonymous`). A key that merely begins
    with `key-` is a key."""
    tenants = {tenant_of(name)}
    if name == KEYLESS_TENANT or _TENANT_ID.fullmatch(name):
        tenants.add(name)
    return tenants
