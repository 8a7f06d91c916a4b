"""Sign-in and token caching for web accounts.

Tokens are cached in the shared store (not only in memory) so serverless instances do not all sign in on a
cold start, and a short store lock keeps concurrent instances from signing one account in at once (the web
sign-in is rate-walled per IP). The token lifetime is read from the JWT's `exp` when present.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from http.cookies import SimpleCookie

import orjson

from qwen_server.core.errors import GatewayError, UpstreamAuthError
from qwen_server.providers.base import Account
from qwen_server.providers.qwen_web import protocol, waf, wire
from qwen_server.providers.qwen_web.headers import build_headers
from qwen_server.providers.qwen_web.jar import SessionJar
from qwen_server.providers.transport import Reply, Upstream
from qwen_server.store.base import Store

DEFAULT_TOKEN_TTL = 7 * 24 * 3600.0
LOCK_TTL = 15.0


def token_key(account: Account) -> str:
    return f"qwen:token:{account.id}"


def jwt_expiry(token: str) -> float | None:
    """`exp` from a JWT payload, without verifying it (we only need to know when to renew)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        exp = orjson.loads(base64.urlsafe_b64decode(payload)).get("exp")
        return float(exp) if exp else None
    except (IndexError, ValueError, TypeError, AttributeError):
        return None


def token_from_response(response: Reply) -> str | None:
    for raw in response.set_cookies:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(raw)
        except Exception:
            continue
        if "token" in cookie and cookie["token"].value:
            return cookie["token"].value
    try:
        body = response.json()
    except ValueError:
        return None
    token = body.get("token") if isinstance(body, dict) else None
    return str(token) if token else None


class TokenManager:
    def __init__(
        self,
        store: Store,
        user_agent: str | None = None,
        anti_bot: dict[str, str] | None = None,
        jar: SessionJar | None = None,
    ):
        self._store = store
        self._jar = jar
        self._user_agent = user_agent
        self._anti_bot = anti_bot or {}
        self._local: dict[str, tuple[str, float]] = {}
        self._refused: set[tuple[str, str]] = set()  # configured tokens refused here: sign in instead
        self._locks: dict[str, asyncio.Lock] = {}

    async def token(self, account: Account, client: Upstream) -> str:
        """A valid token: local cache, then the store, then a configured token, then a fresh sign-in."""
        now = time.time()
        cached = self._local.get(account.id)
        if cached and cached[1] > now + 60:
            return cached[0]
        lock = self._locks.setdefault(account.id, asyncio.Lock())
        async with lock:
            cached = self._local.get(account.id)
            if cached and cached[1] > time.time() + 60:
                return cached[0]
            stored = await self._store.get(token_key(account))
            if stored:
                record = orjson.loads(stored)
                self._local[account.id] = (record["token"], float(record["expires"]))
                return str(record["token"])
            if account.token and (account.token, account.id) not in self._refused:
                # a configured token (or a browser session's) first; a password signs in once it is refused
                return await self._remember(account, account.token)
            token = await self._sign_in(account, client)
            return await self._remember(account, token)

    async def invalidate(self, account: Account, token: str) -> None:
        """Forget `token` (after a 401) so the next call signs in again; keeps a newer one if already there."""
        self._local.pop(account.id, None)
        if token == account.token and account.email and account.password:
            self._refused.add((token, account.id))
        stored = await self._store.get(token_key(account))
        if stored and orjson.loads(stored).get("token") == token:
            await self._store.delete(token_key(account))

    async def adopt(self, account: Account, token: str) -> None:
        """Use `token` from now on (a fresh browser session), in every instance."""
        self._refused.discard((token, account.id))
        await self._remember(account, token)

    async def _remember(self, account: Account, token: str) -> str:
        expires = jwt_expiry(token) or time.time() + DEFAULT_TOKEN_TTL
        ttl = max(60.0, expires - time.time())
        record = orjson.dumps({"token": token, "expires": expires})
        await self._store.set(token_key(account), record, ttl=ttl)
        self._local[account.id] = (token, expires)
        return token

    async def _sign_in(self, account: Account, client: Upstream) -> str:
        if not (account.email and account.password):
            raise UpstreamAuthError(f"account {account.name}: token refused and no email/password to sign in")
        lock_key = f"qwen:signin-lock:{account.id}"
        for _ in range(int(LOCK_TTL / 0.25)):
            if await self._store.set_if_absent(lock_key, b"1", ttl=LOCK_TTL):
                break
            await asyncio.sleep(0.25)
            stored = await self._store.get(token_key(account))
            if stored:
                return str(orjson.loads(stored)["token"])
        try:
            hashed = hashlib.sha256(account.password.encode()).hexdigest()
            cookies = await self._jar.cookies(account) if self._jar else dict(account.cookies)
            headers = build_headers(
                account.base_url,
                user_agent=account.user_agent or self._user_agent,
                anti_bot={**self._anti_bot, **dict(account.headers)},
                cookies=cookies,
            )
            response = await client.fetch(
                "POST",
                account.base_url + protocol.current().path("signin"),
                content=orjson.dumps(wire.signin_body(account.email, hashed)),
                headers=headers,
            )
            if self._jar is not None and response.set_cookies:
                await self._jar.absorb(account, response.set_cookies)
            blocked = waf.diagnose(response.status, response.headers, response.body)
            if blocked is not None:  # the bot protection, not the credential: never a strike
                raise waf.blocked_error(blocked)
            if response.status >= 400:
                error: GatewayError = wire.classify_response(response.status, response.body, response.headers)
                if response.status in (400, 401, 403) and not isinstance(error, wire.UpstreamBlocked):
                    error = UpstreamAuthError(
                        f"account {account.name}: sign-in refused (HTTP {response.status})"
                    )
                raise error
            token = token_from_response(response)
            if not token:
                raise UpstreamAuthError(f"account {account.name}: sign-in answered without a token")
            return token
        finally:
            await self._store.delete(lock_key)
