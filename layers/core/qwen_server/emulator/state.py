"""The emulator's whole mutable world, owned by one app instance (one event loop, no locks)."""

from __future__ import annotations

import hashlib
import os
import random
import uuid

from starlette.requests import Request

from qwen_server.emulator.accounts import Account, AccountBook
from qwen_server.emulator.config import EmulatorConfig
from qwen_server.emulator.directives import Script
from qwen_server.emulator.files import FileStore
from qwen_server.emulator.knobs import KnobBook, parse_knob_fields
from qwen_server.emulator.media_book import MediaBook
from qwen_server.emulator.network import Network
from qwen_server.emulator.script_queue import ScriptQueues
from qwen_server.emulator.signin_wall import SigninWall
from qwen_server.emulator.stats import Stats
from qwen_server.emulator.tokens import TokenIssuer

CHAT_LIMIT = 200_000  # oldest chats are forgotten past this (gateways that never delete their chats)


class EmulatorState:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.accounts = AccountBook(config.accounts)
        secret = (
            os.urandom(32)
            if config.seed is None
            else hashlib.sha256(f"emulator:{config.seed}".encode()).digest()
        )
        self.tokens = TokenIssuer(secret, self.accounts)
        overrides = {
            self.accounts.resolve(key).index: parse_knob_fields(fields)
            for key, fields in config.account_knobs.items()
        }
        self.knobs = KnobBook(config.knobs, overrides)
        self.rng = random.Random(config.seed)
        self.stats = Stats([a.email for a in self.accounts.all])
        self.scripts = ScriptQueues(len(self.accounts.all))
        self.wall = SigninWall(config.signin_wall) if config.signin_wall is not None else None
        self.chats: dict[str, int] = {}
        self.running: set[str] = set()
        self.files = FileStore(len(self.accounts.all))
        self.media = MediaBook(config.image_quota, config.video_quota, config.video_seconds)
        self.fired: dict[Script, int] = {}  # scripted errors with `times`: how often each has fired
        self.network = Network(config.rtt)  # the emulated round-trip time, and the log of calls

    def script_error_due(self, script: Script) -> bool:
        """Whether a script's error (or mid-answer silence) happens on this completion: always, unless
        `times` is used up."""
        if script.times is None:
            return True
        if len(self.fired) > 10_000:
            self.fired.clear()
        fired = self.fired.get(script, 0)
        if fired >= script.times:
            return False
        self.fired[script] = fired + 1
        return True

    def authenticate(self, request: Request) -> Account | None:
        """The account of the `token` cookie, else of an `Authorization: Bearer` header."""
        cookie = request.cookies.get("token")
        if cookie:
            account = self.tokens.resolve(cookie)
            if account is not None:
                return account
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return self.tokens.resolve(auth[7:].strip())
        return None

    def new_chat(self, account: Account) -> str:
        if len(self.chats) >= CHAT_LIMIT:
            for chat_id in list(self.chats)[: CHAT_LIMIT // 10]:
                if chat_id not in self.running:
                    del self.chats[chat_id]
        chat_id = str(uuid.uuid4())
        self.chats[chat_id] = account.index
        return chat_id
