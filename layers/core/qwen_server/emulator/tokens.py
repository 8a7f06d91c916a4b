"""JWT-looking tokens: HMAC-signed, 30 days long, revocable per account by bumping a generation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable

import orjson

from qwen_server.emulator.accounts import Account, AccountBook

TOKEN_TTL = 30 * 24 * 3600
_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
_CACHE_LIMIT = 50_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Mints and checks tokens. Verified tokens are cached so a request costs one dict lookup."""

    def __init__(self, secret: bytes, accounts: AccountBook, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._accounts = accounts
        self._clock = clock
        self._generation = [0] * len(accounts.all)
        self._cache: dict[str, tuple[Account, int, float]] = {}

    def mint(self, account: Account) -> tuple[str, int]:
        """A fresh token and its expiry (epoch seconds)."""
        now = int(self._clock())
        exp = now + TOKEN_TTL
        payload = {
            "id": account.id,
            "gen": self._generation[account.index],
            "iat": now,
            "exp": exp,
            "jti": os.urandom(8).hex(),
        }
        signing_input = f"{_HEADER}.{_b64(orjson.dumps(payload))}"
        return f"{signing_input}.{self._sign(signing_input)}", exp

    def resolve(self, token: str) -> Account | None:
        """The account a token belongs to, or None when it is forged, expired or revoked."""
        entry = self._cache.get(token)
        if entry is None:
            entry = self._verify(token)
            if entry is None:
                return None
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[token] = entry
        account, generation, exp = entry
        if generation != self._generation[account.index] or exp <= self._clock():
            return None
        return account

    def revoke(self, account: Account | None) -> None:
        """Invalidate every token of one account (or of all accounts)."""
        targets = self._accounts.all if account is None else (account,)
        for target in targets:
            self._generation[target.index] += 1

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest())

    def _verify(self, token: str) -> tuple[Account, int, float] | None:
        head, dot, signature = token.rpartition(".")
        if not dot or not hmac.compare_digest(self._sign(head), signature):
            return None
        try:
            payload = orjson.loads(_unb64(head.partition(".")[2]))
            account = self._accounts.by_id(payload["id"])
            generation, exp = int(payload["gen"]), float(payload["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        return None if account is None else (account, generation, exp)
