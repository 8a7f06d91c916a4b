"""Real backing services for tests and benchmarks: a throwaway redis-server and a moto DynamoDB server.

Plain functions so end-to-end tests and `bench/` can start them too:

    url, proc = start_redis()              # redis://127.0.0.1:PORT/0
    endpoint, proc = start_moto()          # http://127.0.0.1:PORT (set fake AWS credentials: moto_env())
    stop(proc)
    with redis_service() as url: ...     # the same as context managers (moto_service sets fake credentials)

Both bind to loopback on a free port and are killed by `stop`. `redis_binary()` is None when
redis-server is not installed (callers skip then; CI installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# Ports for the servers tests start. Not the system's pick (bind to port 0): that comes from the ephemeral
# range, where every outgoing connection and every other test worker's pick come from too, so a port found
# free could be taken before our server binds it, and a health check could then reach someone else's server.
# Each pytest-xdist worker hands out ports from its own slice below the ephemeral range (32768 up on Linux),
# in turn, skipping any that cannot be bound right now.
_PORTS_FROM, _SLICE = 12_000, 2_500  # eight workers' slices end at 32,000


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw3"; none outside xdist
    digits = worker.removeprefix("gw")
    return int(digits) % 8 if digits.isdigit() else 0


class _PortCursor:
    def __init__(self) -> None:
        self.start = _PORTS_FROM + _worker_index() * _SLICE
        self.offset = (os.getpid() * 97) % _SLICE  # a new run does not start on the last run's ports

    def next(self) -> int:
        for _ in range(_SLICE):
            port = self.start + self.offset
            self.offset = (self.offset + 1) % _SLICE
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
        raise RuntimeError("no free port left in this worker's slice")


_cursor = _PortCursor()


def free_port() -> int:
    """A loopback TCP port free now and handed to no one else by this test process (see `_PortCursor`)."""
    return _cursor.next()


def redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f}s")


def start_redis(port: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """Start `redis-server` with no persistence on a free port (or `port`, to bring one back after a
    `stop`); returns (url, process)."""
    binary = redis_binary()
    if binary is None:
        raise FileNotFoundError("redis-server is not installed")
    port = port or free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_port(port, proc, "redis-server")
    return f"redis://127.0.0.1:{port}/0?timeout={REDIS_TIMEOUT:g}", proc


# seconds a store (or gateway) under test waits for this Redis per call: its 2 s default is for production,
# where a pause of seconds means trouble; on a loaded test machine it only means the test was descheduled
REDIS_TIMEOUT = 15.0


def redis_url_with(url: str, *, db: int | None = None, **query: str) -> str:
    """A URL of `start_redis` on another database and/or with more query parameters (`prefix=...`)."""
    parts = urlsplit(url)
    params = {**dict(parse_qsl(parts.query)), **query}
    path = parts.path if db is None else f"/{db}"
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(params), ""))


def moto_env() -> dict[str, str]:
    """Fake credentials and region for talking to moto (never real ones)."""
    return dict(MOTO_ENV)


# moto's own server handles requests in parallel threads without a lock, so two conditional writes can
# both pass their check: real DynamoDB never does that. This launcher serialises requests (one lock around
# the WSGI app), which restores per-request atomicity while keeping keep-alive connections.
_MOTO_SERIAL = """
import sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
def serial(environ, start_response):
    with lock:
        return list(app(environ, start_response))
run_simple(sys.argv[1], int(sys.argv[2]), serial, threaded=True, request_handler=MotoRequestHandler)
"""


def start_moto(recording: Path | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a moto server (requests serialised, see above) on a free port; returns (endpoint_url, process).
    With `recording`, moto's recorder writes the requests it is sent there once a test starts it
    (`POST /moto-api/recorder/start-recording`): one JSON line each, headers included."""
    port = free_port()
    env = {**os.environ, **MOTO_ENV, "MOTO_PORT": str(port)}
    if recording is not None:
        env["MOTO_RECORDER_FILEPATH"] = str(recording)
    proc = subprocess.Popen(
        [sys.executable, "-c", _MOTO_SERIAL, "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _wait_for_port(port, proc, "moto server")
    endpoint = f"http://127.0.0.1:{port}"
    _wait_for_http(endpoint + "/moto-api/", proc)
    return endpoint, proc


def _wait_for_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None:
                raise RuntimeError("moto server exited before answering") from None
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill a service started here and reap it."""
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - the kernel reaps SIGKILLed children promptly
        pass


@contextlib.contextmanager
def redis_service() -> Iterator[str]:
    """A redis-server for the duration of the block; yields its URL."""
    url, proc = start_redis()
    try:
        yield url
    finally:
        stop(proc)


@contextlib.contextmanager
def moto_service(recording: Path | None = None) -> Iterator[str]:
    """A moto server for the block, with fake AWS credentials in os.environ (restored afterwards)."""
    saved = {k: os.environ.get(k) for k in MOTO_ENV}
    os.environ.update(MOTO_ENV)
    endpoint, proc = start_moto(recording)
    try:
        yield endpoint
    finally:
        stop(proc)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
