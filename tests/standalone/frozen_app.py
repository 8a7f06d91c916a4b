"""The standalone executable as a user starts it: copied alone into an empty folder and run with a bare
environment (no venv, no PYTHONPATH, PATH=/usr/bin:/bin). The tests give the executable its own cache folder
(QWEN_SERVER_CACHE) to unpack into; test_standalone_cache.py checks the default ones."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.processes import Service, _spawn, free_port, wait_http

BARE_PATH = "/usr/bin:/bin"


@dataclass(frozen=True)
class Frozen:
    """The executable, alone in its folder, and the cache folder it unpacks into."""

    path: Path
    cache: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {"PATH": BARE_PATH, "PYTHONUNBUFFERED": "1", "QWEN_SERVER_CACHE": str(self.cache), **extra}

    def run(self, *args: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.path), *args], env=self.env(**env), cwd=cwd, capture_output=True, text=True, timeout=timeout
        )

    def popen(self, *args: str, cwd: Path, **env: str) -> subprocess.Popen[bytes]:
        """`qwen-server ARGS` as a process, its output in a log file."""
        process, _ = _spawn([str(self.path), *args], self.env(**env), f"frozen-{args[0]}", cwd=cwd)
        return process

    def start(self, *args: str, cwd: Path, health: str = "/health", port: int | None = None, **env: str) -> Service:
        """`qwen-server ARGS --port P` as a process, once `health` answers."""
        port = port or free_port()
        command = [str(self.path), *args, "--port", str(port)]
        process, log_path = _spawn(command, self.env(**env), f"frozen-{args[0]}", cwd=cwd)
        service = Service(process, port, log_path)
        try:
            wait_http(f"{service.url}{health}", process, timeout=60)
        except RuntimeError:
            service.stop()
            raise RuntimeError(service.log()) from None
        return service


def start_emulator(frozen: Frozen, cwd: Path, *args: str) -> Service:
    """`qwen-server emulator` from the executable."""
    return frozen.start("emulator", "--accounts", "2", *args, cwd=cwd, health="/_emulator/health")
