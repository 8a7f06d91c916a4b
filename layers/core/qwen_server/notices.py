"""`qwen-server --licenses`: the licence notices of everything the standalone executable bundles.

The freezer (`infra/freeze/`) writes them into `THIRD_PARTY_NOTICES` beside this module inside the executable.
An installed package has no such file: pip keeps each dependency's licence in its own `*.dist-info` folder.
"""

from __future__ import annotations

from pathlib import Path

NOTICES_FILE = "THIRD_PARTY_NOTICES"
NOT_BUNDLED = (
    "This qwen-server runs from a Python installation, not the standalone executable: each package's licence "
    "is in its own *.dist-info folder (`pip show -f NAME` lists it). qwen-server itself is MIT-licensed "
    "(the LICENSE file of the repository)."
)


def notices() -> str:
    """The bundled notices, or where to find them when nothing is bundled."""
    path = Path(__file__).with_name(NOTICES_FILE)
    return path.read_text(encoding="utf-8") if path.is_file() else NOT_BUNDLED
