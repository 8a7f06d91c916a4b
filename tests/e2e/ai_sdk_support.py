"""Running the Vercel AI SDK (`ai_sdk_client.mjs`) against a gateway, for the tests that drive it. Needs Node
and `./dev test`'s install of the SDK into `.venv-tools/ai-sdk`; without them those tests skip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.processes import REPO

AI_SDK = REPO / ".venv-tools" / "ai-sdk" / "node_modules"
AI_SDK_SCRIPT = Path(__file__).with_name("ai_sdk_client.mjs")

needs_ai_sdk = pytest.mark.skipif(
    not (AI_SDK / "ai").is_dir()
    or not (AI_SDK / "@ai-sdk" / "anthropic").is_dir()
    or shutil.which("node") is None,
    reason="the Vercel AI SDK is not installed in .venv-tools/ai-sdk (./dev test installs it with npm)",
)


def install_script(folder: Path) -> Path:
    """The script beside a `node_modules` link: ES modules resolve packages from the script's own folder."""
    (folder / "node_modules").symlink_to(AI_SDK, target_is_directory=True)
    return Path(shutil.copy(AI_SDK_SCRIPT, folder / AI_SDK_SCRIPT.name))


def ai_sdk(script_path: Path, base_url: str, case: str, prompt: str, model: str | None = None) -> dict[str, Any]:
    """One case of the script (see its CASES); the JSON it prints. `model`: the name the SDK asks for."""
    node = shutil.which("node")
    assert node is not None
    env = {**os.environ, **({"AI_SDK_MODEL": model} if model else {})}
    done = subprocess.run(
        [node, str(script_path), case, base_url, prompt],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
