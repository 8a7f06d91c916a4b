"""Each Vercel function stays under 250 MiB as Vercel builds it: the project's dependencies (pyproject's
`[project].dependencies`, installed for Python 3.12, Vercel's default) plus the repository's committed files
that vercel.json does not exclude from that function."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serverless.serverless_support import REPO
from tests.serverless.test_sam_template import PY312, tree_bytes

MIB = 1024 * 1024
VERCEL_LIMIT_MIB = 250


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    if PY312 is None:
        pytest.skip("needs a working python3.12 (Vercel's default runtime)")
    target = Path(tempfile.mkdtemp(prefix="vercel-deps-"))
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    done = subprocess.run(
        [PY312, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(target), *dependencies],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield target


def _excluded(pattern: str) -> list[str]:
    return [p.strip() for p in pattern.strip("{}").split(",") if p.strip()]


def test_every_vercel_function_fits(installed: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode().split("\0")
    deps = tree_bytes(installed)
    assert (installed / "vercel" / "functions").is_dir(), "wait_until ships to Vercel"
    assert not (installed / "av").exists(), "PyAV is the optional `audio` extra"
    rows = []
    for name, settings in json.loads((REPO / "vercel.json").read_text())["functions"].items():
        excluded = _excluded(settings.get("excludeFiles", ""))
        files = [
            f for f in tracked if f and not any(fnmatch.fnmatch(f, p.replace("**", "*")) for p in excluded)
        ]
        assert name in files and "shared/qwen.tiktoken" in files and not any(f.startswith("tests/") for f in files)
        size = deps + sum((REPO / f).stat().st_size for f in files if (REPO / f).is_file())
        rows.append((name, size / MIB))
    print("\n".join(f"{name:<18} {mib:7.1f} MiB" for name, mib in rows))
    for name, mib in rows:
        assert mib < VERCEL_LIMIT_MIB, f"{name}: {mib:.1f} MiB unzipped (limit {VERCEL_LIMIT_MIB})"
