"""Claude Code itself, unchanged, with ANTHROPIC_BASE_URL pointed at the gateway.

`./dev test` installs the CLI from npm into `.venv-tools/claude-code`; without it these tests are skipped.
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

CLAUDE = REPO / ".venv-tools" / "claude-code" / "node_modules" / ".bin" / "claude"
pytestmark = pytest.mark.skipif(
    not CLAUDE.exists() or shutil.which("node") is None,
    reason="Claude Code is not installed (./dev test installs it)",
)


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Service, Service]]:
    emulator = start_emulator(accounts=2)
    gateway = start_gateway(accounts=emulator_accounts(emulator, 2))
    yield emulator, gateway
    gateway.stop()
    emulator.stop()


def run_claude(gateway: Service, workdir: Path, prompt: str, *extra: str) -> dict[str, object]:
    done = _claude(gateway, workdir, prompt, "--output-format", "json", *extra)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_claude_events(gateway: Service, workdir: Path, prompt: str, *extra: str) -> list[dict[str, Any]]:
    """Every message of the session (`stream-json`), tool results included."""
    done = _claude(gateway, workdir, prompt, "--output-format", "stream-json", "--verbose", *extra)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _claude(gateway: Service, workdir: Path, prompt: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir / "home"),
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_API_KEY": "sk-any",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    done = subprocess.run(
        [str(CLAUDE), "-p", prompt, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def test_a_prompt_round_trip(stack: tuple[Service, Service], tmp_path: Path) -> None:
    _, gateway = stack
    result = run_claude(gateway, tmp_path, "hello from claude code")
    assert result["is_error"] is False and result["stop_reason"] == "end_turn"
    answer = str(result["result"])  # the emulator echoes the message it got and lists the files it was sent
    # Claude Code's context is past LARGE_TEXT_THRESHOLD: it went up as a document, the prompt stayed inline
    assert "hello from claude code" in answer and "[file conversation.txt text/plain" in answer


def test_claude_code_runs_a_tool_the_model_called(stack: tuple[Service, Service], tmp_path: Path) -> None:
    emulator, gateway = stack
    (tmp_path / "notes.txt").write_text("the secret number is 4172\n")
    call = {"name": "Read", "arguments": {"file_path": str(tmp_path / "notes.txt")}}
    replies = [
        {"reply": "Let me read it.\n<tool_call>\n" + json.dumps(call) + "\n</tool_call>"},
        {"reply": "The file says the number is 4172."},
    ]
    httpx.post(
        f"{emulator.url}/_emulator/script", json={"account": None, "replies": replies}, timeout=5
    ).raise_for_status()
    before = emulator_stats(emulator)["completions"]
    result = run_claude(gateway, tmp_path, "What number is in notes.txt?", "--allowedTools", "Read")
    assert result["is_error"] is False
    assert result["result"] == "The file says the number is 4172."
    assert result["num_turns"] == 2, "one turn for the tool call, one for the answer"
    assert emulator_stats(emulator)["completions"] - before == 2
    assert emulator_stats(emulator)["scripts_pending"] == 0


def test_claude_code_web_search_tool(stack: tuple[Service, Service], tmp_path: Path) -> None:
    """WebSearch runs as a second request carrying Anthropic's web search server tool."""
    emulator, gateway = stack
    call = {"name": "WebSearch", "arguments": {"query": "rust release notes"}}
    replies = [
        {"reply": "<tool_call>\n" + json.dumps(call) + "\n</tool_call>"},
        {"reply": "Rust 1.99 shipped in November.[[1]] It adds async closures.[[2]]"},
        {"reply": "Rust 1.99 is out, per the search."},
    ]
    httpx.post(
        f"{emulator.url}/_emulator/script", json={"account": None, "replies": replies}, timeout=5
    ).raise_for_status()
    before = emulator_stats(emulator)["completions"]
    events = run_claude_events(gateway, tmp_path, "What is new in Rust?", "--allowedTools", "WebSearch")
    result = events[-1]
    assert result["is_error"] is False
    assert result["result"] == "Rust 1.99 is out, per the search."
    searched = [e["tool_use_result"] for e in events if isinstance(e.get("tool_use_result"), dict)]
    assert len(searched) == 1 and searched[0]["searchCount"] == 1
    links = searched[0]["results"][0]["content"]
    assert [link["url"].split("/")[2] for link in links] == ["source1.example.org", "source2.example.org"]
    assert "Rust 1.99 shipped in November. It adds async closures." in searched[0]["results"]
    assert emulator_stats(emulator)["completions"] - before == 3, "the turn, the search, the answer"
    assert emulator_stats(emulator)["scripts_pending"] == 0


def test_claude_code_reads_a_file_unscripted(stack: tuple[Service, Service], tmp_path: Path) -> None:
    """No script: the emulator sees Claude Code's tools, calls Read on the file the prompt names (an absolute
    path, as Read demands, from the working directory Claude Code states), then reports what it read."""
    emulator, gateway = stack
    (tmp_path / "notes.txt").write_text("the secret number is 4172\n")
    before = emulator_stats(emulator)["completions"]
    events = run_claude_events(gateway, tmp_path, "what is in notes.txt?")
    result = events[-1]
    assert result["is_error"] is False and result["num_turns"] == 2
    uses = [
        block
        for event in events
        if event.get("type") == "assistant"
        for block in event["message"]["content"]
        if block.get("type") == "tool_use"
    ]
    assert [(u["name"], u["input"]) for u in uses] == [("Read", {"file_path": str(tmp_path / "notes.txt")})]
    assert result["result"] == "`notes.txt` contains: the secret number is 4172"
    assert emulator_stats(emulator)["completions"] - before == 2
