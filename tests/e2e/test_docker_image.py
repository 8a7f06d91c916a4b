"""The Dockerfile: what it promises is read from the file on every run; building and running the image needs a
Docker daemon and is skipped, with the reason, where none is reachable."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import httpx
import pytest

from tests.processes import REPO, free_port

DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    parsed = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]
    last_from = max(i for i, (name, _) in enumerate(parsed) if name == "FROM")
    return parsed[last_from:]


def test_the_image_is_slim_non_root_checks_health_and_keeps_data_on_a_volume() -> None:
    final = dict(_instructions())  # the last of each instruction wins, as in Docker
    assert final["FROM"] == "python:3.12-slim"
    assert final["USER"] not in ("root", "0")
    assert "/health" in final["HEALTHCHECK"]
    assert final["VOLUME"] == '["/data"]' and "DATA_DIR=/data" in final["ENV"]
    assert final["ENTRYPOINT"] == '["qwen-server", "serve", "--host", "0.0.0.0", "--port", "1325"]'
    instructions = [name for name, _ in _instructions()]
    assert instructions.index("USER") < instructions.index("ENTRYPOINT")


def test_secrets_and_local_state_stay_out_of_the_build_context() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for pattern in (".env", "qwen_accounts.*", "data", ".venv*", ".git"):
        assert pattern in ignored


def _docker_unavailable() -> str | None:
    if shutil.which("docker") is None:
        return "docker is not installed"
    done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return "no Docker daemon is reachable (`docker info` failed)"
    return None


@pytest.mark.slow
def test_the_image_builds_runs_and_answers_health() -> None:
    reason = _docker_unavailable()
    if reason:
        pytest.skip(reason)
    tag = f"qwen-api-server-test:{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "build", "-t", tag, str(REPO)], check=True, timeout=900)
    port = free_port()
    container = subprocess.run(
        ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:1325", "-e", "QWEN_ACCOUNTS=[]", tag],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    try:
        deadline, status = time.monotonic() + 60, 0
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
            except httpx.HTTPError:
                time.sleep(0.5)
        assert status == 200
        user = subprocess.run(
            ["docker", "exec", container, "id", "-u"], check=True, capture_output=True, text=True
        ).stdout.strip()
        assert user != "0"
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
