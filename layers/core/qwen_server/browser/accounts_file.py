"""Writing a captured session back into the accounts file (JSON), keeping every other field as it was.

The registry re-reads the file when it changes, so a running gateway picks the new session up without a
restart. TOML and Python account files are not rewritten (comments and layout would be lost): the command
says which field to add instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class NotWritable(ValueError):
    pass


def read_entries(path: Path) -> tuple[Any, list[dict[str, Any]]]:
    """(the whole document, its list of account entries)."""
    if path.suffix.lower() != ".json":
        raise NotWritable(
            f"{path.name}: only a JSON accounts file is rewritten; add `cookie` (and `user_agent`) to the "
            "account by hand, or use qwen_accounts.json"
        )
    document = json.loads(path.read_text(encoding="utf-8"))
    entries = document.get("accounts") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise NotWritable(f"{path.name}: no list of accounts found")
    return document, entries


def write_session(path: Path, position: int, cookie: str, user_agent: str) -> None:
    """Set entry `position`'s `cookie` and `user_agent`, atomically (a reader never sees half a file)."""
    document, entries = read_entries(path)
    entry = entries[position]
    entry["cookie"] = cookie
    entry["user_agent"] = user_agent
    entry.pop("curl", None)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
    os.chmod(temporary, path.stat().st_mode & 0o777)
    os.replace(temporary, path)
