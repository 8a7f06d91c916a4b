"""Run the emulator as a real process and talk to it the way the gateway's client does."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tests.services import free_port

VERSION = {"version": "0.2.0"}


@contextmanager
def emulator_process(*args: str) -> Iterator[str]:
    """Start `python -m qwen_server.emulator` on a free port; yield its base URL once healthy."""
    port = free_port()
    log = tempfile.TemporaryFile()
    cmd = [sys.executable, "-m", "qwen_server.emulator", "--port", str(port), *args]
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"emulator exited: {log.read().decode(errors='replace')}")
            try:
                if httpx.get(f"{base}/_emulator/health", timeout=5, verify=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("emulator did not become healthy")
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def password_hash(index: int) -> str:
    return hashlib.sha256(f"password{index}".encode()).hexdigest()


def email(index: int) -> str:
    return f"user{index}@emulator.local"


def parse_sse(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


def completion_body(
    chat_id: str,
    content: str,
    *,
    model: str = "qwen3-max",
    stream: bool = True,
    thinking: bool = False,
    budget: int | None = None,
    incremental: bool = True,
) -> dict[str, Any]:
    """The body the documented client sends (trimmed to what matters, plus the usual noise)."""
    fid = str(uuid.uuid4())
    feature: dict[str, Any] = {"thinking_enabled": thinking, "output_schema": "phase"}
    if budget is not None:
        feature["thinking_budget"] = budget
    return {
        "stream": stream,
        "version": "2.1",
        "incremental_output": incremental,
        "chat_id": chat_id,
        "chat_mode": "normal",
        "model": model,
        "parent_id": None,
        "timestamp": int(time.time() * 1000),
        "messages": [
            {
                "fid": fid,
                "parentId": None,
                "childrenIds": [str(uuid.uuid4())],
                "role": "user",
                "content": content,
                "user_action": "chat",
                "files": [],
                "timestamp": int(time.time()),
                "models": [model],
                "chat_type": "t2t",
                "feature_config": feature,
                "extra": {"meta": {"subChatType": "t2t"}},
                "sub_chat_type": "t2t",
                "parent_id": None,
            }
        ],
    }


@dataclass
class Reply:
    status: int
    headers: httpx.Headers
    text: str

    @property
    def events(self) -> list[dict[str, Any]]:
        return parse_sse(self.text)

    def deltas(self, phase: str | None = None) -> list[dict[str, Any]]:
        found = [e["choices"][0]["delta"] for e in self.events if "choices" in e]
        return [d for d in found if phase is None or d["phase"] == phase]

    def answer(self) -> str:
        return "".join(d["content"] for d in self.deltas("answer"))

    def think(self) -> str:
        return "".join(d["content"] for d in self.deltas("think"))


class WebClient:
    """A minimal Qwen web client: one account's token, chats, completions."""

    def __init__(self, base: str, index: int = 0, timeout: float = 10.0) -> None:
        self.base, self.index = base, index
        self.http = httpx.Client(base_url=base, timeout=timeout, verify=False)  # plain HTTP: skip TLS setup
        self.token: str | None = None

    def close(self) -> None:
        self.http.close()

    def signin(self, v1: bool = False) -> httpx.Response:
        path = "/api/v1/auths/signin" if v1 else "/api/v2/auths/signin"
        body = {"email": email(self.index), "password": password_hash(self.index)}
        response = self.http.post(path, json=body)
        self.http.cookies.clear()  # the client sends the token explicitly, like the gateway
        if response.headers.get("content-type", "").startswith("application/json"):
            self.token = response.cookies.get("token") or response.json().get("token")
        return response

    @property
    def auth(self) -> dict[str, str]:
        return {"cookie": f"token={self.token}"}

    def new_chat(self, model: str = "qwen3-max") -> str:
        body = {
            "title": "New Chat",
            "models": [model],
            "chat_mode": "normal",
            "chat_type": "t2t",
            "timestamp": int(time.time() * 1000),
        }
        response = self.http.post("/api/v2/chats/new", json=body, headers=self.auth)
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["id"])

    def complete(
        self,
        content: str,
        *,
        chat_id: str | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> Reply:
        chat_id = chat_id or self.new_chat()
        sent = {**self.auth, **VERSION, "accept": "text/event-stream"} if headers is None else headers
        response = self.http.post(
            "/api/v2/chat/completions",
            params={"chat_id": chat_id},
            json=completion_body(chat_id, content, **options),
            headers=sent,
        )
        return Reply(response.status_code, response.headers, response.text)

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/_emulator/stats").json())

    def control(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(f"/_emulator/{path}", json=body or {})
