"""Every setting is in the README's configuration section (`ALLOWED_HOSTS` once shipped without a row)."""

from __future__ import annotations

import re
from pathlib import Path

from qwen_server.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
# described where they are used rather than in the table
ELSEWHERE = {"QWEN_BX_V", "QWEN_BX_UA", "QWEN_BX_UMIDTOKEN", "QWEN_USER_AGENT"}


def test_every_setting_is_in_the_configuration_section() -> None:
    text = README.read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([A-Z0-9_]+)`", section))
    missing = sorted(name.upper() for name in Settings.model_fields if name.upper() not in named | ELSEWHERE)
    assert not missing, f"add to the README's configuration table: {missing}"
    assert all(f"`{name}`" in text for name in ELSEWHERE)
    rows = [line for line in section.splitlines() if line.startswith("| `ALLOWED_HOSTS` |")]
    assert len(rows) == 1
