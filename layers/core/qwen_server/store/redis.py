"""Redis store (redis-py asyncio): every atomic primitive is one Lua script, so one round trip.

Keys, under a prefix (default `qs:`, `?prefix=` in the URL):
- `kv:<key>`       string; TTL is Redis's own (PX), so kv expiry needs no comparing.
- `lease:<group>`  ZSET holder -> expiry (epoch seconds, float). Scripts drop members whose score <= now.
- `q:<queue>`      ZSET ticket -> seq (FIFO order); `qx:<queue>` ZSET ticket -> expiry; `qseq:<queue>` INCR
                   counter. Scripts prune expired tickets from both ZSETs before counting or ranking, so a
                   rank is a position among live tickets.

"now" is the Redis server's clock (`TIME` inside the scripts): one clock for every instance, so lease and
ticket expiry do not depend on the callers' clock skew (needs Redis >= 5, where scripts replicate effects).
Scripts are loaded once by `ping()` and run by EVALSHA (redis-py re-loads on NOSCRIPT). The keys of one
script live under different names, so this backend targets a single Redis (or Upstash), not Redis Cluster.

Failures: connect/read timeouts default to 2 s and redis-py's retries are off (a retried script may not be
idempotent); any Redis error during an operation becomes `StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from qwen_server.core.errors import StoreUnavailable
from qwen_server.store.base import Lease, StoreError

T = TypeVar("T")

_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function prune_queue(q, qx)
  local dead = redis.call('ZRANGEBYSCORE', qx, '-inf', now)
  for i = 1, #dead, 500 do
    redis.call('ZREM', q, unpack(dead, i, math.min(i + 499, #dead)))
  end
  if #dead > 0 then redis.call('ZREMRANGEBYSCORE', qx, '-inf', now) end
end
local function take(lease, holder, limit, ttl)
  redis.call('ZREMRANGEBYSCORE', lease, '-inf', now)
  if not redis.call('ZSCORE', lease, holder) and redis.call('ZCARD', lease) >= limit then
    return false
  end
  redis.call('ZADD', lease, now + ttl, holder)
  return true
end
"""

# KEYS: lease            ARGV: holder, limit, ttl
_LEASE_ACQUIRE = _PRELUDE + "return take(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])) and 1 or 0"

# KEYS: lease1, q, qx, lease2     ARGV: holder1, limit1, ttl1, holder2, limit2, ttl2   -> 0 / 1 / 2
_LEASE_PAIR = (
    _PRELUDE
    + """
prune_queue(KEYS[2], KEYS[3])
if redis.call('ZCARD', KEYS[2]) > 0 then return 1 end
if not take(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])) then return 1 end
if not take(KEYS[4], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 2
end
return 0
"""
)

# KEYS: lease, q, qx     ARGV: holder, limit, ttl, has_ticket, ticket
_LEASE_FIFO = (
    _PRELUDE
    + """
prune_queue(KEYS[2], KEYS[3])
local with_ticket = ARGV[4] == '1'
if with_ticket then
  if not redis.call('ZSCORE', KEYS[2], ARGV[5]) then return 0 end
elseif redis.call('ZCARD', KEYS[2]) > 0 then
  return 0
end
if not take(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])) then return 0 end
if with_ticket then
  redis.call('ZREM', KEYS[2], ARGV[5])
  redis.call('ZREM', KEYS[3], ARGV[5])
end
return 1
"""
)

# KEYS: lease            ARGV: holder, ttl
_LEASE_RENEW = (
    _PRELUDE
    + """
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) <= now then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""
)

# KEYS: lease            -> live holders
_LEASE_HOLDERS = (
    _PRELUDE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
)

# KEYS: q, qx, qseq      ARGV: ticket, ttl, limit      -> position or -1
_QUEUE_PUSH = (
    _PRELUDE
    + """
prune_queue(KEYS[1], KEYS[2])
local ticket = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], ticket) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[3]), ticket)
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ticket)
return redis.call('ZRANK', KEYS[1], ticket)
"""
)

# KEYS: q, qx            ARGV: ticket   -> position or -1
_QUEUE_POSITION = (
    _PRELUDE
    + """
prune_queue(KEYS[1], KEYS[2])
local r = redis.call('ZRANK', KEYS[1], ARGV[1])
if r then return r end
return -1
"""
)

# KEYS: q, qx            ARGV: n
_QUEUE_HEAD = (
    _PRELUDE
    + """
prune_queue(KEYS[1], KEYS[2])
return redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
"""
)

# KEYS: q, qx            -> the oldest live ticket, taken out, or false
_QUEUE_POP = (
    _PRELUDE
    + """
prune_queue(KEYS[1], KEYS[2])
local first = redis.call('ZRANGE', KEYS[1], 0, 0)
if #first == 0 then return false end
redis.call('ZREM', KEYS[1], first[1])
redis.call('ZREM', KEYS[2], first[1])
return first[1]
"""
)

# KEYS: q, qx            ARGV: ticket, ttl
_QUEUE_TOUCH = (
    _PRELUDE
    + """
local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not s or tonumber(s) <= now then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""
)

# KEYS: q, qx
_QUEUE_LEN = (
    _PRELUDE
    + """
prune_queue(KEYS[1], KEYS[2])
return redis.call('ZCARD', KEYS[1])
"""
)

# KEYS: key              ARGV: has_expected, expected, value, ttl_ms (0: none)
_CAS = """
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
if ARGV[4] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return 1
"""

# KEYS: key              ARGV: amount, ttl_ms (0: keep)
_INCR = """
local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
"""

_OWN_QUERY_ARGS = ("prefix", "timeout")


def _ms(ttl: float | None) -> int:
    return 0 if ttl is None else max(1, round(ttl * 1000))


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\*?[]" else ch for ch in text)


class RedisStore:
    max_value_bytes: int | None = None

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = "qs:", url_for_errors: str = "redis://"
    ) -> None:
        self._r = client
        self._p = prefix
        self._url = url_for_errors
        reg = client.register_script
        self._lease_acquire = reg(_LEASE_ACQUIRE)
        self._lease_fifo = reg(_LEASE_FIFO)
        self._lease_pair = reg(_LEASE_PAIR)
        self._lease_renew = reg(_LEASE_RENEW)
        self._lease_holders = reg(_LEASE_HOLDERS)
        self._queue_push = reg(_QUEUE_PUSH)
        self._queue_position = reg(_QUEUE_POSITION)
        self._queue_head = reg(_QUEUE_HEAD)
        self._queue_pop = reg(_QUEUE_POP)
        self._queue_touch = reg(_QUEUE_TOUCH)
        self._queue_len = reg(_QUEUE_LEN)
        self._cas = reg(_CAS)
        self._incr = reg(_INCR)
        self._scripts = [
            self._lease_acquire, self._lease_fifo, self._lease_pair, self._lease_renew, self._lease_holders, self._queue_push,
            self._queue_position, self._queue_head, self._queue_pop, self._queue_touch, self._queue_len, self._cas,
            self._incr,
        ]  # fmt: skip

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """redis:// or rediss:// URL as redis-py reads it, plus `prefix=` (key prefix) and `timeout=` (s)."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        own = {k: v for k, v in query if k in _OWN_QUERY_ARGS}
        rest = urlencode([(k, v) for k, v in query if k not in _OWN_QUERY_ARGS])
        timeout = float(own.get("timeout", 2.0))
        client = aioredis.Redis.from_url(
            urlunsplit(parts._replace(query=rest)),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # one retry on a refused or dropped connection, none on a timeout: a connection the pool kept
            # from before Redis restarted fails once and is replaced, while a Redis that is down still fails
            # fast (a refused connect is immediate)
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or ""
        safe_url = urlunsplit(parts._replace(netloc=host, query=""))  # no password in error messages
        return cls(client, prefix=own.get("prefix", "qs:"), url_for_errors=safe_url)

    async def _do(self, op: Awaitable[T]) -> T:
        try:
            return await op
        except RedisError as exc:
            raise StoreUnavailable(f"Redis store {self._url} failed: {exc}") from exc

    # ---- keys ----------------------------------------------------------------------------------------
    def _kv(self, key: str) -> str:
        return f"{self._p}kv:{key}"

    def _lease(self, group: str) -> str:
        return f"{self._p}lease:{group}"

    def _queue(self, queue: str) -> list[str]:
        return [f"{self._p}q:{queue}", f"{self._p}qx:{queue}"]

    async def ping(self) -> None:
        try:
            await self._r.ping()
            for script in self._scripts:
                script.sha = await self._r.script_load(script.script)
        except RedisError as exc:
            raise StoreError(f"STORE_URL names Redis at {self._url}, which is unreachable: {exc}") from exc

    async def close(self) -> None:
        await self._r.aclose()

    # ---- key / value ---------------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:
        value: Any = await self._do(self._r.get(self._kv(key)))  # bytes: responses are not decoded
        return cast("bytes | None", value)

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        values: Any = await self._do(self._r.mget([self._kv(k) for k in keys]))
        return cast("list[bytes | None]", values)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._do(self._r.set(self._kv(key), value, px=_ms(ttl) or None))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return bool(await self._do(self._r.set(self._kv(key), value, px=_ms(ttl) or None, nx=True)))

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None
    ) -> bool:
        args: list[Any] = ["0" if expected is None else "1", expected or b"", value, _ms(ttl)]
        return bool(await self._do(self._cas(keys=[self._kv(key)], args=args)))

    async def delete(self, key: str) -> None:
        await self._do(self._r.delete(self._kv(key)))

    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        try:
            raw = await self._incr(keys=[self._kv(key)], args=[repr(float(amount)), _ms(ttl)])
        except ResponseError as exc:
            if "float" in str(exc):
                raise ValueError(f"{key!r} does not hold a number") from exc
            raise StoreUnavailable(f"Redis store {self._url} failed: {exc}") from exc
        except RedisError as exc:
            raise StoreUnavailable(f"Redis store {self._url} failed: {exc}") from exc
        return float(raw)

    async def scan(self, prefix: str) -> dict[str, bytes]:
        pattern = _glob_escape(self._kv(prefix)) + "*"
        strip = len(self._kv(""))

        async def collect() -> dict[str, bytes]:
            names: list[Any] = [k async for k in self._r.scan_iter(match=pattern, count=1000)]
            out: dict[str, bytes] = {}
            for i in range(0, len(names), 500):
                chunk = names[i : i + 500]
                values: list[Any] = await self._r.mget(chunk)
                for name, value in zip(chunk, values, strict=True):
                    if value is not None:
                        out[name.decode()[strip:]] = value
            return out

        return await self._do(collect())

    # ---- leases --------------------------------------------------------------------------------------
    async def lease_acquire(self, group: str, holder: str, limit: int, ttl: float) -> bool:
        args: list[Any] = [holder, limit, repr(float(ttl))]
        return bool(await self._do(self._lease_acquire(keys=[self._lease(group)], args=args)))

    async def lease_acquire_fifo(
        self, group: str, holder: str, limit: int, ttl: float, queue: str, ticket: str | None = None
    ) -> bool:
        keys = [self._lease(group), *self._queue(queue)]
        args: list[Any] = [holder, limit, repr(float(ttl)), "0" if ticket is None else "1", ticket or ""]
        return bool(await self._do(self._lease_fifo(keys=keys, args=args)))

    async def lease_acquire_pair(self, first: Lease, queue: str, second: Lease) -> int:
        keys = [self._lease(first.group), *self._queue(queue), self._lease(second.group)]
        args: list[Any] = [
            first.holder, first.limit, repr(float(first.ttl)), second.holder, second.limit, repr(float(second.ttl))
        ]  # fmt: skip
        return int(await self._do(self._lease_pair(keys=keys, args=args)))

    async def lease_renew(self, group: str, holder: str, ttl: float) -> bool:
        args = [holder, repr(float(ttl))]
        return bool(await self._do(self._lease_renew(keys=[self._lease(group)], args=args)))

    async def lease_release(self, group: str, holder: str) -> None:
        await self._do(self._r.zrem(self._lease(group), holder))

    async def lease_release_many(self, leases: list[tuple[str, str]]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for group, holder in leases:
            pipe.zrem(self._lease(group), holder)
        await self._do(pipe.execute())

    async def lease_count(self, group: str) -> int:
        return len(await self.lease_holders(group))

    async def lease_holders(self, group: str) -> list[str]:
        raw = await self._do(self._lease_holders(keys=[self._lease(group)]))
        return [h.decode() for h in raw]

    # ---- queues --------------------------------------------------------------------------------------
    async def queue_push(self, queue: str, ticket: str, ttl: float, limit: int) -> int | None:
        keys = [*self._queue(queue), f"{self._p}qseq:{queue}"]
        pos = int(await self._do(self._queue_push(keys=keys, args=[ticket, repr(float(ttl)), limit])))
        return None if pos < 0 else pos

    async def queue_position(self, queue: str, ticket: str) -> int | None:
        pos = int(await self._do(self._queue_position(keys=self._queue(queue), args=[ticket])))
        return None if pos < 0 else pos

    async def queue_head(self, queue: str, n: int) -> list[str]:
        if n <= 0:
            return []
        raw = await self._do(self._queue_head(keys=self._queue(queue), args=[n]))
        return [t.decode() for t in raw]

    async def queue_touch(self, queue: str, ticket: str, ttl: float) -> bool:
        args = [ticket, repr(float(ttl))]
        return bool(await self._do(self._queue_touch(keys=self._queue(queue), args=args)))

    async def queue_remove(self, queue: str, ticket: str) -> None:
        order, expiry = self._queue(queue)
        pipe = self._r.pipeline(transaction=True)
        pipe.zrem(order, ticket)
        pipe.zrem(expiry, ticket)
        await self._do(pipe.execute())

    async def queue_pop(self, queue: str) -> str | None:
        raw = await self._do(self._queue_pop(keys=self._queue(queue)))
        return raw.decode() if raw else None

    async def queue_len(self, queue: str) -> int:
        return int(await self._do(self._queue_len(keys=self._queue(queue))))
