"""`serve --emulate`: the built-in emulator as a child process, for exactly as long as the server runs.

The gateway is given the emulator's web accounts and one emulated DashScope-kind account (for embeddings),
in place of any configured accounts, which it names in the log. The banner prints the emulator's address, so
its control API (`/_emulator/script`, `/_emulator/stats`) can be used to script replies.

The child is stopped however `serve` ends: Ctrl-C, SIGTERM, a configuration error or a crash. SIGTERM needs
care: uvicorn handles it during serving, then restores the previous handler and raises the signal again;
with Python's default handler that kills the process on the spot, skipping every `finally`, and the emulator
would outlive the server holding its port. `exit_on_sigterm` makes that signal a normal `SystemExit`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

from qwen_server.relaunch import self_command

BANNER = """
  ************************************************************************
  *  EMULATED UPSTREAM: answers come from the built-in Qwen emulator,     *
  *  not from Qwen. Configure real accounts to talk to Qwen (see README). *
  ************************************************************************
  emulator: {url}  (script replies: POST {url}/_emulator/script)
"""
DASHSCOPE_MODELS = ["text-embedding-v4", "text-embedding-v3"]
ACCOUNT_FILES = ("qwen_accounts.py", "qwen_accounts.json", "qwen_accounts.toml")
log = logging.getLogger("qwen_server")


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """SIGTERM raises `SystemExit` in the main thread, so cleanup runs as it does for Ctrl-C."""
    signal.signal(signal.SIGTERM, _sigterm)


def _listening_socket() -> socket.socket:
    """A loopback socket on a port the system picks, listening already: the emulator inherits it, so no other
    process can take the port between its choice and the emulator's start."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _start(accounts: int) -> tuple[subprocess.Popen[bytes], int]:
    with _listening_socket() as sock:
        port = int(sock.getsockname()[1])
        process = subprocess.Popen(
            self_command(
                "emulator",
                "--fd",
                str(sock.fileno()),
                "--accounts",
                str(accounts),
                "--token-latency",
                "0.02",
                "--first-token-latency",
                "0.2",
            ),
            pass_fds=(sock.fileno(),),
        )
    import httpx

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=0.5).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(process)
    raise SystemExit("the emulator did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the child and wait for it (killed if it takes more than 5 s)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def emulated_upstream(accounts: int, *, shared_store: bool = False) -> Iterator[int]:
    """Run the emulator and point `QWEN_ACCOUNTS` at it; yields its port.

    Unless `STORE_URL` is set, state lives in memory, or, when several worker processes must share it
    (`shared_store`), in a temporary SQLite file removed afterwards: the emulator is new on every start, so
    nothing about its accounts is worth keeping under `DATA_DIR`.
    """
    with ExitStack() as cleanup:
        if shared_store and "STORE_URL" not in os.environ:
            folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="qwen-emulate-"))
            os.environ["STORE_URL"] = f"sqlite:///{Path(folder, 'state.db').as_posix()}"
        process, port = _start(accounts)
        cleanup.callback(stop, process)
        yield _point_accounts_at(accounts, port)


def replaced_accounts(environ: dict[str, str] | os._Environ[str], cwd: Path) -> list[str]:
    """Where accounts are configured that `--emulate` sets aside: the variables, then the files."""
    found: list[str] = []
    raw = environ.get("QWEN_ACCOUNTS")
    if raw:
        try:
            entries = json.loads(raw)
            count = f" ({len(entries)} accounts)" if isinstance(entries, list) else ""
        except ValueError:
            count = ""
        found.append(f"QWEN_ACCOUNTS{count}")
    if environ.get("QWEN_ACCOUNTS_FILE"):
        found.append(f"QWEN_ACCOUNTS_FILE={environ['QWEN_ACCOUNTS_FILE']}")
    found += [name for name in ACCOUNT_FILES if (cwd / name).is_file()]
    return found


def emulated_accounts(accounts: int, url: str) -> list[dict[str, object]]:
    """The emulator's web accounts, and a DashScope-kind account on its compatible mode for embeddings."""
    web: list[dict[str, object]] = [
        {"email": f"user{i}@emulator.local", "password": f"password{i}", "base_url": url} for i in range(accounts)
    ]
    dashscope: dict[str, object] = {
        "kind": "dashscope",
        "name": "emulated-dashscope",
        "api_key": "sk-emulated",
        "base_url": f"{url}/compatible-mode/v1",
        "models": DASHSCOPE_MODELS,
    }
    return [*web, dashscope]


def _point_accounts_at(accounts: int, port: int) -> int:
    """Set `QWEN_ACCOUNTS` (inherited by worker processes) to the emulator's accounts; returns the port."""
    replaced = replaced_accounts(os.environ, Path.cwd())
    if replaced:
        log.warning("--emulate: the emulator's accounts replace the configured ones: %s", ", ".join(replaced))
    url = f"http://127.0.0.1:{port}"
    os.environ["QWEN_ACCOUNTS"] = json.dumps(emulated_accounts(accounts, url))
    os.environ.pop("QWEN_ACCOUNTS_FILE", None)
    os.environ.setdefault("STORE_URL", "memory://")
    print(BANNER.format(url=url), file=sys.stderr, flush=True)
    return port
