"""Who a gateway key stands for: the tenant id every store key, limit and usage row is filed under.

Here, below the HTTP layer, because the runtime needs it too: `RATE_LIMITS` names keys, and the limits it
builds (for live requests and batch lines alike) are kept by tenant.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache


@lru_cache(maxsize=256)
def tenant_id(key: str) -> str:
    """The tenant a key stands for: a short hash, so logs, limits and usage never show the key itself.
    Remembered per key: the same few keys come with every request."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]
