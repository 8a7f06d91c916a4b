"""Time from a fresh process's start to its first answered request: import, runtime build and one real call.

Import time alone flatters an app that defers its heavy parts to the first request; this measures what the
first caller of a cold instance waits for. Every row is served the way the AWS streaming functions are
(`python -m uvicorn app:app --app-dir ... --lifespan off`, functions/*/run.sh), so the rows differ only in
the app. The bare row is a one-route FastAPI app; the function rows make one proxied call each to a fast fake
upstream (`openai`-kind account, `memory://` store). The clock starts just before the process is spawned and
stops when the first 200 has been read in full; the request is retried every 5 ms until the port accepts.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository: `tests` is a package
from tests.services import free_port as _free_port  # noqa: E402  (ports no other test worker hands out)

POLL_SECONDS = 0.005

BARE_APP = '''"""A bare FastAPI app with one route: the floor for a Python web function's first answer."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def root() -> dict[str, bool]:
    return {"ok": True}
'''


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, object] | None = None


@dataclass(frozen=True)
class Target:
    name: str
    app_dir: Path
    call: Call


CHAT = Call(
    "POST", "/v1/chat/completions", {"model": "qwen3-max", "messages": [{"role": "user", "content": "hi"}]}
)
MESSAGES = Call(
    "POST",
    "/v1/messages",
    {"model": "qwen3-max", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
)
CALLS = {"chat": CHAT, "messages": MESSAGES, "meta": Call("GET", "/v1/models")}


def targets() -> list[Target]:
    """The bare app first, then every function group under functions/ with the call it answers."""
    bare_dir = Path(tempfile.mkdtemp(prefix="bare-fastapi-"))
    (bare_dir / "app.py").write_text(BARE_APP)
    found = [Target("bare fastapi (GET /)", bare_dir, Call("GET", "/"))]
    for group, call in CALLS.items():
        if (REPO / "functions" / group / "app.py").is_file():
            found.append(Target(f"{group} ({call.method} {call.path})", REPO / "functions" / group, call))
    return found


def _environment(upstream_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "STORE_", "AWS_", "GATEWAY_"))}
    account = {"kind": "openai", "base_url": f"{upstream_url}/v1", "api_key": "k", "max_concurrent": 64}
    env.update(QWEN_ACCOUNTS=json.dumps([account]), STORE_URL="memory://")
    return env


def _answer(port: int, call: Call, deadline: float) -> None:
    """Send `call` until the server accepts it; raise unless the first accepted one answers 200."""
    body = json.dumps(call.body).encode() if call.body is not None else None
    headers = {"content-type": "application/json", "authorization": "Bearer k"} if body else {}
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request(call.method, call.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise RuntimeError("the server never accepted a connection") from None
            time.sleep(POLL_SECONDS)
            continue
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"{call.method} {call.path} answered {response.status}: {data[:300]!r}")
        return


def sample(target: Target, upstream_url: str, port: int) -> float:
    """Seconds from spawning the server to the first answer read in full."""
    command = [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(target.app_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--lifespan", "off", "--no-access-log"]
    command += ["--log-level", "warning"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        env=_environment(upstream_url),
        cwd=target.app_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _answer(port, target.call, time.monotonic() + 60)
        return time.perf_counter() - started
    except RuntimeError as exc:
        process.kill()
        raise SystemExit(
            f"{target.name}: {exc}\n{process.communicate()[1].decode(errors='replace')}"
        ) from None
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def fast_upstream() -> Iterator[str]:
    """bench/fast_upstream.py on a free port for the block; yields its URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fast_upstream.py")), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _answer(port, Call("GET", "/health"), time.monotonic() + 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(runs: int, limit: int | None = None, warm_up: bool = True) -> list[tuple[Target, list[float]]]:
    """Samples (seconds) per target (the first `limit` ones); round-robin so load from anything else hits every
    row alike."""
    listed = targets()[:limit]
    samples: list[list[float]] = [[] for _ in listed]
    with fast_upstream() as upstream:
        for target in listed if warm_up else []:
            sample(target, upstream, _free_port())  # warm-up: bytecode cache, upstream connections
        for _ in range(runs):
            for i, target in enumerate(listed):
                samples[i].append(sample(target, upstream, _free_port()))
    return list(zip(listed, samples, strict=True))
