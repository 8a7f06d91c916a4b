"""The repo's `shared/` data folder (model catalogue, prompt templates), located once.

`QWEN_SERVER_SHARED_DIR` overrides; otherwise the folder beside the layer in a checkout, or `/opt/shared`
in a deployed layer.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import orjson


@cache
def shared_dir() -> Path:
    override = os.environ.get("QWEN_SERVER_SHARED_DIR")
    candidates = [Path(override)] if override else []
    here = Path(__file__).resolve()
    candidates += [here.parents[4] / "shared", here.parents[1] / "shared_data", Path("/opt/shared")]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the shared data folder was not found; set QWEN_SERVER_SHARED_DIR")


@cache
def load_text(name: str) -> str:
    return (shared_dir() / name).read_text(encoding="utf-8")


@cache
def load_json(name: str) -> Any:
    return orjson.loads((shared_dir() / name).read_bytes())
