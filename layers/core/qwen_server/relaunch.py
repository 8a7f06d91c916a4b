"""The command line that runs `qwen-server ARGS` in a new process, whether this one is an installed package
or the standalone executable.

Installed, a child is `python -m qwen_server.cli ARGS` with the same interpreter. Frozen into one file (see
`infra/freeze/`), there is no interpreter to name and no `-m`: `sys.executable` is the executable itself, whose
first argument is the subcommand, so the child is `qwen-server ARGS`.
"""

from __future__ import annotations

import sys


def is_frozen() -> bool:
    """True inside the standalone executable (the freezer sets `sys.frozen`)."""
    return bool(getattr(sys, "frozen", False))


def self_command(*args: str) -> list[str]:
    """argv for a child process running `qwen-server ARGS` (the same installation as this process)."""
    if is_frozen():
        return [sys.executable, *args]
    return [sys.executable, "-m", "qwen_server.cli", *args]
