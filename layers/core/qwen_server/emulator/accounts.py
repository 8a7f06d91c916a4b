"""The emulated accounts: `user{i}@emulator.local` / `password{i}`, and how to name one."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DOMAIN = "emulator.local"
_ID_NAMESPACE = uuid.UUID("6f1c3f0e-6f5a-4f55-9a1d-2b1f0c0e7a11")


def sha256_hex(text: str) -> str:
    """The web app sends the sha256 hex digest of the password, never the password itself."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Account:
    index: int
    email: str
    password: str
    password_sha256: str
    id: str
    name: str

    def record(self) -> dict[str, Any]:
        """The account record the sign-in and `/api/v1/auths/` answers carry."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": "user",
            "profile_image_url": "/user.png",
            "permissions": {},
        }


def make_account(index: int) -> Account:
    email = f"user{index}@{DOMAIN}"
    password = f"password{index}"
    return Account(
        index=index,
        email=email,
        password=password,
        password_sha256=sha256_hex(password),
        id=str(uuid.uuid5(_ID_NAMESPACE, email)),
        name=f"User {index}",
    )


class AccountBook:
    """Look accounts up by email, id or index (as an int or a numeric string)."""

    def __init__(self, count: int) -> None:
        self.all: Sequence[Account] = tuple(make_account(i) for i in range(count))
        self._by_email = {a.email: a for a in self.all}
        self._by_id = {a.id: a for a in self.all}

    def by_email(self, email: str) -> Account | None:
        return self._by_email.get(email.strip().lower())

    def by_id(self, account_id: str) -> Account | None:
        return self._by_id.get(account_id)

    def resolve(self, key: object) -> Account:
        """An email, an index or a numeric string; raise KeyError when it names no account."""
        if isinstance(key, str) and "@" in key:
            account = self.by_email(key)
            if account is not None:
                return account
        elif isinstance(key, int | str) and not isinstance(key, bool):
            try:
                index = int(key)
            except ValueError:
                index = -1
            if 0 <= index < len(self.all):
                return self.all[index]
        raise KeyError(f"no such account: {key!r}")
