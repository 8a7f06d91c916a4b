"""Child processes run the same installation: `python -m qwen_server.cli` installed, the executable itself
frozen; and the two flags that print and exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qwen_server import __version__
from qwen_server.notices import NOT_BUNDLED
from qwen_server.relaunch import self_command


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(self_command(*args), capture_output=True, text=True, timeout=60, check=False)


def test_installed_children_run_this_interpreter_with_the_cli_module() -> None:
    assert self_command("emulator", "--port", "1") == [sys.executable, "-m", "qwen_server.cli", "emulator", "--port", "1"]
    done = run("--version")
    assert (done.returncode, done.stdout) == (0, f"qwen-server {__version__}\n")


def test_frozen_children_run_the_executable_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/qwen-server")
    assert self_command("worker") == ["/opt/qwen-server", "worker"]


def test_licenses_say_where_an_installation_keeps_them() -> None:
    done = run("--licenses")
    assert (done.returncode, done.stdout) == (0, NOT_BUNDLED + "\n")
