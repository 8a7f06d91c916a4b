"""Finding and starting the system's Chromium (Debian's `chromium` package): never a browser download.

Started headless with the DevTools protocol on a port the browser picks, in a throw-away profile, and
stopped with its whole profile afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
EXECUTABLE_ENV = "QWEN_CHROMIUM"
INSTALL_HINT = (
    "no Chromium found: install Debian's package (`apt-get install chromium`) or set QWEN_CHROMIUM to the "
    "path of a Chromium or Chrome executable"
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")
_readers: set[asyncio.Task[None]] = set()  # held so a log reader is not collected while it runs


class BrowserMissing(RuntimeError):
    """No Chromium to drive; the message says what to install."""


def find_executable() -> str:
    configured = os.environ.get(EXECUTABLE_ENV)
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise BrowserMissing(f"{EXECUTABLE_ENV}={configured} is not an executable file; {INSTALL_HINT}")
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissing(INSTALL_HINT)


@asynccontextmanager
async def launched(executable: str, start_timeout: float = 30.0) -> AsyncIterator[str]:
    """A headless Chromium; yields the browser's DevTools WebSocket URL."""
    profile = tempfile.mkdtemp(prefix="qwen-login-")
    args = [
        executable,
        "--headless=new",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "about:blank",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        url = await asyncio.wait_for(_devtools_url(process), start_timeout)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_url(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    while True:
        line = await process.stderr.readline()
        if not line:
            raise RuntimeError(f"Chromium exited (status {await process.wait()}) before DevTools listened")
        match = _LISTENING.search(line.decode(errors="replace"))
        if match:
            reader = asyncio.get_running_loop().create_task(_drain(process.stderr))
            _readers.add(reader)
            reader.add_done_callback(_readers.discard)
            return match.group(1)


async def _drain(stream: asyncio.StreamReader) -> None:
    """Keep reading Chromium's log so a full pipe never blocks it."""
    while await stream.readline():
        continue
