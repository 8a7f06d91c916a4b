"""The Python versions the platforms run: Lambda's python3.12, Vercel's 3.12 by default and 3.13 or 3.14 on
request, while the suite's own venv may be 3.11 (the oldest supported).

- Every runtime dependency resolves to prebuilt Linux wheels for 3.12, 3.13 and 3.14 (no build step on a platform
  without a compiler), as pip resolves it against the project's package index.
- ruff and mypy target 3.11 (`./dev test` runs mypy again as 3.14, where typeshed knows what 3.13 and 3.14
  removed and deprecated).
- A focused part of the suite (unit tests, SQLite and Redis stores, chat through the OpenAI SDK and speech, each
  against server processes on that Python) runs on the newest such Python installed here, in the venv
  `./dev test` keeps for it (`.venv-3.X`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.serverless.serverless_support import REPO

VERSIONS = ("3.12", "3.13", "3.14")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# Runs in ~40 s on one core; DynamoDB's tests are left to the main run (moto is not in that venv).
FOCUSED = [
    "tests/e2e/test_chat_openai_sdk.py",
    "tests/e2e/test_audio_speech.py",
    "tests/store",
    "tests/unit",
    "tests/core",
]


def _dependencies() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [*project["dependencies"], *extras["aws"], *extras["audio"]]


@pytest.fixture(scope="module")
def resolved() -> dict[str, tuple[int, str, dict[str, str]]]:
    """version -> (pip's exit code, its output, package -> wheel file), the three resolved at once (each waits
    on the index, not the CPU)."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    folder = Path(tempfile.mkdtemp(prefix="wheels-"))
    running = {
        version: subprocess.Popen(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
             str(folder / f"{version}.json"), "--only-binary=:all:", "--implementation", "cp",
             "--python-version", version, *platforms, *_dependencies()],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for version in VERSIONS
    }
    results = {}
    for version, process in running.items():
        output, _ = process.communicate(timeout=600)
        report = folder / f"{version}.json"
        wheels = {
            canonicalize_name(item["metadata"]["name"]): item["download_info"]["url"].rsplit("/", 1)[-1]
            for item in (json.loads(report.read_text())["install"] if report.is_file() else [])
        }
        results[version] = (process.returncode, output, wheels)
    return results


@pytest.mark.parametrize("version", VERSIONS)
def test_every_runtime_dependency_has_a_wheel_for(
    version: str, resolved: dict[str, tuple[int, str, dict[str, str]]]
) -> None:
    returncode, output, wheels = resolved[version]
    assert returncode == 0, output[-6000:]
    tag = "cp" + version.replace(".", "")
    # the compiled ones are built for this very version (or the stable ABI), not a pure-Python fallback
    for name in ("pydantic-core", "tiktoken", "lameenc", "orjson", "aiohttp", "av"):
        wheel = wheels[name]
        assert wheel.endswith(".whl") and (f"-{tag}-" in wheel or "-abi3-" in wheel), (name, wheel)


def test_requires_python_and_the_checkers_agree_on_the_oldest() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert config["project"]["requires-python"] == ">=3.11"
    assert config["tool"]["ruff"]["target-version"] == "py311"
    assert config["tool"]["mypy"]["python_version"] == "3.11"
    assert "ignore_missing_imports" not in config["tool"]["mypy"], "a module a newer Python removed must fail"
    assert "mypy --python-version 3.14" in (REPO / "dev").read_text()


def _newest_venv() -> Path | None:
    """The venv ./dev test set up on the newest Python above this one, if this machine has one."""
    ours = sys.version_info[:2]
    for version in sorted(VERSIONS, reverse=True):
        venv = REPO / f".venv-{version}"
        if tuple(map(int, version.split("."))) > ours and (venv / ".installed").is_file():
            return venv
    return None


def test_a_focused_part_of_the_suite_passes_on_the_newest_python() -> None:
    venv = _newest_venv()
    if venv is None:
        pytest.skip("no Python newer than this one is installed here (./dev test sets up .venv-3.X for one)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
         "-k", "not dynamodb", *FOCUSED],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    print(f"{venv.name}: {summary}")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) > 500, summary
    assert " skipped" not in summary, summary
