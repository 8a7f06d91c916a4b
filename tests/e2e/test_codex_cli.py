"""Codex CLI itself, unchanged, with a custom model provider pointed at the gateway's Responses API.

`./dev test` installs the CLI from npm into `.venv-tools/codex`; without it these tests are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import REPO, Service, emulator_accounts, emulator_stats, start_emulator, start_gateway

CODEX = REPO / ".venv-tools" / "codex" / "node_modules" / ".bin" / "codex"
pytestmark = pytest.mark.skipif(
    not CODEX.exists() or shutil.which("node") is None,
    reason="Codex CLI is not installed (./dev test installs it)",
)


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Service, Service]]:
    emulator = start_emulator(accounts=2)
    gateway = start_gateway(accounts=emulator_accounts(emulator, 2))
    yield emulator, gateway
    gateway.stop()
    emulator.stop()


def run_codex(gateway: Service, workdir: Path, prompt: str, *extra: str) -> list[dict[str, Any]]:
    """`codex exec --json` with a provider for the gateway (wire_api "responses"); its JSONL events."""
    home = workdir / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        'model = "qwen3-max"\n'
        'model_provider = "gateway"\n\n'
        "[model_providers.gateway]\n"
        'name = "Qwen API Server"\n'
        f'base_url = "{gateway.url}/v1"\n'
        'env_key = "GATEWAY_KEY"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    work = workdir / "work"
    work.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "CODEX_HOME": str(home),
        "GATEWAY_KEY": "sk-any",
    }
    done = subprocess.run(
        [str(CODEX), "exec", "--json", "--skip-git-repo-check", "--ephemeral", *extra, prompt],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def messages(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["item"]["text"]
        for e in events
        if e.get("type") == "item.completed" and e["item"].get("type") == "agent_message"
    ]


def test_a_prompt_round_trip(stack: tuple[Service, Service], tmp_path: Path) -> None:
    _, gateway = stack
    events = run_codex(gateway, tmp_path, "hello from codex")
    assert messages(events) == ["hello from codex"]
    assert events[-1]["type"] == "turn.completed"
    assert events[-1]["usage"]["output_tokens"] > 0


def test_codex_runs_a_shell_command_the_model_called(stack: tuple[Service, Service], tmp_path: Path) -> None:
    emulator, gateway = stack
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("the secret number is 4172\n")
    call = {"name": "exec_command", "arguments": {"cmd": "cat notes.txt"}}
    replies = [
        {"reply": "Let me look.\n<tool_call>\n" + json.dumps(call) + "\n</tool_call>"},
        {"reply": "The file says the number is 4172."},
    ]
    httpx.post(
        f"{emulator.url}/_emulator/script", json={"account": None, "replies": replies}, timeout=5
    ).raise_for_status()
    before = emulator_stats(emulator)["completions"]
    events = run_codex(
        gateway, tmp_path, "What number is in notes.txt?", "--dangerously-bypass-approvals-and-sandbox"
    )
    commands = [
        e["item"]
        for e in events
        if e.get("type") == "item.completed" and e["item"].get("type") == "command_execution"
    ]
    assert len(commands) == 1
    assert "cat notes.txt" in commands[0]["command"]
    assert "the secret number is 4172" in commands[0]["aggregated_output"]
    assert commands[0]["exit_code"] == 0
    assert messages(events)[-1] == "The file says the number is 4172."
    assert emulator_stats(emulator)["completions"] - before == 2, "one turn for the call, one for the answer"
    assert emulator_stats(emulator)["scripts_pending"] == 0


def test_codex_reads_a_file_unscripted(stack: tuple[Service, Service], tmp_path: Path) -> None:
    """No script: the emulator sees Codex's shell tool, proposes the read-only `cat` of the file the prompt
    names, then reports what it printed."""
    emulator, gateway = stack
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("the secret number is 4172\n")
    before = emulator_stats(emulator)["completions"]
    events = run_codex(gateway, tmp_path, "what is in notes.txt?", "--dangerously-bypass-approvals-and-sandbox")
    commands = [
        e["item"]
        for e in events
        if e.get("type") == "item.completed" and e["item"].get("type") == "command_execution"
    ]
    assert [c["command"] for c in commands] == ["/bin/bash -lc 'cat notes.txt'"]
    assert commands[0]["exit_code"] == 0
    assert messages(events)[-1] == "`cat notes.txt` printed: the secret number is 4172"
    assert emulator_stats(emulator)["completions"] - before == 2
