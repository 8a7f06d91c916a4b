"""infra/put-secret.sh refuses to write a secret without gateway keys, and writes keys (and admin keys) into
the secret's JSON. `aws` is a recording stand-in on PATH: the script's own logic is what is under test."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.serverless.serverless_support import REPO

SCRIPT = REPO / "infra" / "put-secret.sh"
FAKE_AWS = """#!/bin/sh
if [ "$1" = cloudformation ]; then echo arn:aws:secretsmanager:us-east-1:123456789012:secret:qwen; exit 0; fi
for arg in "$@"; do case "$arg" in file://*) cp "${arg#file://}" "$RECORD";; esac; done
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    aws = bin_dir / "aws"
    aws.write_text(FAKE_AWS)
    aws.chmod(0o755)
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps([{"email": "a@example.com", "password": "pw"}]))
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "RECORD": str(tmp_path / "secret"),
    }
    return subprocess.run(
        ["sh", str(SCRIPT), "stack", str(accounts), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_keys_are_required(tmp_path: Path) -> None:
    for keys in ([], [""], [" , "]):
        done = run(tmp_path, *keys)
        assert done.returncode != 0
        assert "GATEWAY_API_KEYS" in done.stderr
        assert not (tmp_path / "secret").exists(), "nothing written"


def test_the_secret_carries_accounts_keys_and_admin_keys(tmp_path: Path) -> None:
    done = run(tmp_path, "k1,k2", "root")
    assert done.returncode == 0, done.stderr
    secret = json.loads((tmp_path / "secret").read_text())
    assert secret["GATEWAY_API_KEYS"] == "k1,k2" and secret["ADMIN_API_KEYS"] == "root"
    assert secret["QWEN_ACCOUNTS"] == [{"email": "a@example.com", "password": "pw"}]
    assert "k1" not in done.stdout + done.stderr, "values are never printed"
