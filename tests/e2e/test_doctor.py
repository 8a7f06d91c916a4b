"""`qwen-server doctor` as a user runs it: a process against the emulator process, healthy and broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_fake_openai

VERSION_BUMP = json.dumps({"headers": {"version": "0.3.0"}})
PATH_MOVE = json.dumps({"paths": {"completions": "/api/v3/chat/completions"}, "headers": {"version": "0.3.0"}})


def doctor(
    accounts: list[dict[str, Any]], *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "GATEWAY_", "STORE_"))}
    full_env.update({"QWEN_ACCOUNTS": json.dumps(accounts), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "qwen_server.cli", "doctor", "--timeout", "10", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def steps(result: subprocess.CompletedProcess[str]) -> dict[tuple[str, str], dict[str, Any]]:
    document = json.loads(result.stdout)
    return {(s["account"], s["step"]): s for s in document["steps"]}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "3", accounts=2)
    yield service
    service.stop()


def set_waf(emulator: Service, mode: str) -> None:
    httpx.post(f"{emulator.url}/_emulator/waf", json={"mode": mode}, timeout=30).raise_for_status()


def test_healthy_upstream_passes_with_a_table(emulator: Service, tmp_path: Path) -> None:
    result = doctor(emulator_accounts(emulator, 2), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "protocol in force: version header 0.2.0" in out
    steps_tried = ("sign-in", "token check", "model list", "chat creation", "completion", "completion (thinking)", "upload")
    for step in steps_tried:
        assert f"  {step} " in out
    assert out.count(" ok ") == 2 * len(steps_tried), out
    assert "think phase seen" in out
    assert "bytes uploaded (V4 signature) and parsed" in out
    assert "not tried" in out and "--media t2i" in out, "media flows are opt-in: they spend quota"
    assert "every step that was tried passed" in out


def test_json_report_and_no_secret_printed(emulator: Service, tmp_path: Path) -> None:
    signed = httpx.post(
        f"{emulator.url}/api/v2/auths/signin",
        json={"email": "user1@emulator.local", "password": __import__("hashlib").sha256(b"password1").hexdigest()},
        timeout=5,
    )
    token = signed.cookies["token"]
    accounts = [
        *emulator_accounts(emulator, 1),
        {"name": "browser", "base_url": emulator.url, "cookie": f"token={token}; acw_tc=cookie-secret-123"},
    ]
    result = doctor(accounts, "--json", cwd=tmp_path)
    document = json.loads(result.stdout)
    found = steps(result)
    assert found[("browser", "sign-in")]["state"] == "not tried", "a session account has no password"
    assert found[("browser", "token check")]["state"] == "ok"
    assert found[("emu0", "completion")]["state"] == "ok" and found[("emu0", "completion")]["http"] == 200
    assert found[("emu0", "upload")]["state"] == "ok" and found[("browser", "upload")]["state"] == "ok"
    assert result.returncode == 0 and document["ok"] is True
    session = next(a for a in document["accounts"] if a["name"] == "browser")
    assert session["session_cookies"] == ["acw_tc"]
    for secret in (token, "cookie-secret-123", "password0", "password1"):
        assert secret not in result.stdout and secret not in result.stderr


@pytest.mark.parametrize(
    ("mode", "diagnosis", "advice"),
    [("page", "WAF page (aliyun_waf)", "browser session"), ("captcha", "captcha (FAIL_SYS_USER_VALIDATE)", "slider")],
)
def test_bot_protection_is_diagnosed(
    emulator: Service, tmp_path: Path, mode: str, diagnosis: str, advice: str
) -> None:
    set_waf(emulator, mode)
    try:
        result = doctor(emulator_accounts(emulator, 1), "--skip", "upload", cwd=tmp_path)
        as_json = doctor(emulator_accounts(emulator, 1), "--skip", "upload", "--json", cwd=tmp_path)
    finally:
        set_waf(emulator, "off")
    assert result.returncode == 1, result.stdout
    assert diagnosis in result.stdout and advice in result.stdout
    signin = steps(as_json)[("emu0", "sign-in")]
    assert (signin["state"], signin["http"], signin["outcome"]) == ("failed", 200, diagnosis)
    assert steps(as_json)[("emu0", "completion")]["state"] == "not tried"


def test_a_stale_version_header_is_diagnosed(tmp_path: Path) -> None:
    bumped = start_emulator("--protocol-overrides", VERSION_BUMP, accounts=1)
    try:
        result = doctor(emulator_accounts(bumped, 1), "--skip", "upload", "--json", cwd=tmp_path)
        fixed = doctor(
            emulator_accounts(bumped, 1),
            "--skip",
            "upload",
            env={"QWEN_PROTOCOL_OVERRIDES": VERSION_BUMP},
            cwd=tmp_path,
        )
    finally:
        bumped.stop()
    assert result.returncode == 1
    completion = steps(result)[("emu0", "completion")]
    assert completion["state"] == "failed" and completion["http"] == 200
    assert "Bad_Request" in completion["outcome"] and "version" in completion["hint"]
    assert steps(result)[("emu0", "model list")]["state"] == "ok", "reads do not need the header"
    assert fixed.returncode == 0, fixed.stdout
    assert "version header 0.3.0" in fixed.stdout and "overrides: headers" in fixed.stdout


def test_a_moved_path_is_diagnosed(tmp_path: Path) -> None:
    moved = start_emulator("--protocol-overrides", PATH_MOVE, accounts=1)
    try:
        result = doctor(
            emulator_accounts(moved, 1),
            "--skip",
            "upload",
            "--json",
            env={"QWEN_PROTOCOL_OVERRIDES": VERSION_BUMP},
            cwd=tmp_path,
        )
    finally:
        moved.stop()
    completion = steps(result)[("emu0", "completion")]
    assert result.returncode == 1
    assert (completion["state"], completion["http"]) == ("failed", 404)
    assert "QWEN_PROTOCOL_OVERRIDES" in completion["hint"] and "paths" in completion["hint"]


def test_unreachable_upstream_and_bad_overrides(tmp_path: Path) -> None:
    from tests.processes import free_port

    dead = [{"email": "a@b.c", "password": "pw-secret", "base_url": f"http://127.0.0.1:{free_port()}", "name": "dead"}]
    result = doctor(dead, "--json", cwd=tmp_path)
    assert result.returncode == 1
    signin = steps(result)[("dead", "sign-in")]
    assert signin["state"] == "failed" and "connect" in signin["outcome"] and "base_url" in signin["hint"]
    assert "pw-secret" not in result.stdout
    bad = doctor(dead, env={"QWEN_PROTOCOL_OVERRIDES": '{"paths": {"models": 3}}'}, cwd=tmp_path)
    assert bad.returncode == 2 and "QWEN_PROTOCOL_OVERRIDES" in bad.stdout and "paths.models" in bad.stdout


def test_a_hanging_completion_is_a_timeout(tmp_path: Path) -> None:
    hanging = start_emulator("--hang", "1.0", accounts=1)
    try:
        result = doctor(emulator_accounts(hanging, 1), "--skip", "upload", "--json", "--timeout", "2", cwd=tmp_path)
    finally:
        hanging.stop()
    assert result.returncode == 1
    completion = steps(result)[("emu0", "completion")]
    assert completion["state"] == "failed" and completion["outcome"] == "timeout after 2 s"
    assert "no answer in time" in completion["hint"]
    assert steps(result)[("emu0", "chat creation")]["state"] == "ok"


def test_openai_compatible_accounts_are_checked_through_the_provider(tmp_path: Path) -> None:
    fake = start_fake_openai("--api-key", "sk-good-key-1")
    try:
        accounts = [
            {"kind": "openai", "name": "good", "base_url": f"{fake.url}/v1", "api_key": "sk-good-key-1"},
            {"kind": "openai", "name": "bad", "base_url": f"{fake.url}/v1", "api_key": "sk-wrong-key-2"},
        ]
        result = doctor(accounts, "--json", cwd=tmp_path)
    finally:
        fake.stop()
    found = steps(result)
    assert found[("good", "model list")]["state"] == "ok" and found[("good", "completion")]["state"] == "ok"
    assert found[("bad", "model list")]["state"] == "failed"
    assert "credential" in found[("bad", "model list")]["hint"]
    assert found[("bad", "completion")]["state"] == "not tried"
    assert result.returncode == 1
    assert "sk-good-key-1" not in result.stdout and "sk-wrong-key-2" not in result.stdout


def test_storage_refusing_v4_falls_back_to_v1(tmp_path: Path) -> None:
    v1_only = start_emulator("--oss-v1-only", accounts=1)
    try:
        result = doctor(emulator_accounts(v1_only, 1), "--json", cwd=tmp_path)
    finally:
        v1_only.stop()
    upload = steps(result)[("emu0", "upload")]
    assert upload["state"] == "ok" and "V1 signature" in upload["outcome"], upload


def test_read_aloud_runs_when_asked(emulator: Service, tmp_path: Path) -> None:
    result = doctor(emulator_accounts(emulator, 1), "--media", "tts", "--json", cwd=tmp_path)
    found = steps(result)
    assert found[("emu0", "tts")]["state"] == "ok" and "bytes of speech" in found[("emu0", "tts")]["outcome"]
    assert found[("emu0", "t2v")]["state"] == "not tried" and "--media t2v" in found[("emu0", "t2v")]["outcome"]
    assert result.returncode == 0, result.stdout


MEDIA = ("t2i", "t2v", "tts")


def test_media_flows_pass_on_a_healthy_upstream(tmp_path: Path) -> None:
    fast = start_emulator("--video-seconds", "0.5", accounts=1)
    try:
        accounts = emulator_accounts(fast, 1)
        table = doctor(accounts, "--media", "t2i,t2v,tts", cwd=tmp_path)
        as_json = doctor(accounts, "--media", "t2i,t2v,tts", "--json", cwd=tmp_path)
        used = httpx.get(f"{fast.url}/_emulator/media", timeout=30).json()
    finally:
        fast.stop()
    assert table.returncode == 0, table.stdout + table.stderr
    for step in MEDIA:
        row = next(line for line in table.stdout.splitlines() if line.startswith(f"  {step} "))
        assert " ok " in row, row
    assert "every step that was tried passed" in table.stdout
    document = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and document["ok"] is True, as_json.stdout
    found = steps(as_json)
    assert found[("emu0", "t2i")]["state"] == "ok" and "image phase finished" in found[("emu0", "t2i")]["outcome"]
    t2v = found[("emu0", "t2v")]
    assert t2v["state"] == "ok" and "task done" in t2v["outcome"] and "video URL received" in t2v["outcome"]
    assert t2v["actual"] == "200", "the task status's real status is its x-actual-status-code header"
    assert found[("emu0", "tts")]["state"] == "ok" and "bytes of speech" in found[("emu0", "tts")]["outcome"]
    assert used["turns"] == {"t2i": 2, "t2v": 2}, "each run spent one image and one video"
    for output in (table.stdout, table.stderr, as_json.stdout, as_json.stderr):
        assert "password0" not in output
        assert "?key=" not in output and "/output/" not in output, "keyed media URLs are never printed"


def test_a_spent_image_quota_is_diagnosed(tmp_path: Path) -> None:
    spent = start_emulator("--image-quota", "0", "--video-seconds", "0.5", accounts=1)
    try:
        accounts = emulator_accounts(spent, 1)
        table = doctor(accounts, "--media", "t2i,t2v", cwd=tmp_path)
        as_json = doctor(accounts, "--media", "t2i,t2v", "--json", cwd=tmp_path)
    finally:
        spent.stop()
    assert table.returncode == 1 and as_json.returncode == 1, table.stdout
    assert "RateLimited" in table.stdout and "-> try:" in table.stdout and "quota is spent" in table.stdout
    t2i = steps(as_json)[("emu0", "t2i")]
    assert (t2i["state"], t2i["http"]) == ("failed", 200), t2i
    assert t2i["outcome"] == "RateLimited: daily media quota spent, resets in 6 h"
    assert "wait for the reset" in t2i["hint"] and "another account" in t2i["hint"]
    assert steps(as_json)[("emu0", "t2v")]["state"] == "ok", "the video quota is separate"
    assert json.loads(as_json.stdout)["ok"] is False
    assert "password0" not in table.stdout + as_json.stdout


def test_a_video_not_done_in_time_says_to_wait_longer(tmp_path: Path) -> None:
    slow = start_emulator("--video-seconds", "600", accounts=1)
    try:
        result = doctor(
            emulator_accounts(slow, 1), "--media", "t2v", "--skip", "upload", "--json", "--timeout", "1", cwd=tmp_path
        )
    finally:
        slow.stop()
    assert result.returncode == 1
    t2v = steps(result)[("emu0", "t2v")]
    assert t2v["state"] == "failed" and t2v["outcome"].startswith("task accepted, still running after")
    assert t2v["actual"] == "200" and "--timeout" in t2v["hint"]


def test_a_refused_task_status_reads_the_actual_status_header(tmp_path: Path) -> None:
    """The task status answers HTTP 200 with `x-actual-status-code: 401` once the token is revoked mid-wait:
    the row fails as a refused credential and shows the header's status."""
    from concurrent.futures import ThreadPoolExecutor

    slow = start_emulator("--video-seconds", "600", accounts=1)
    try:
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(
                doctor,
                emulator_accounts(slow, 1),
                *("--media", "t2v", "--skip", "upload", "--json", "--timeout", "20"),
                cwd=tmp_path,
            )
            while httpx.get(f"{slow.url}/_emulator/media", timeout=30).json()["tasks"] == 0:
                assert not running.done(), running.result().stdout
            httpx.post(f"{slow.url}/_emulator/expire-tokens", json={}, timeout=30).raise_for_status()
            result = running.result()
    finally:
        slow.stop()
    t2v = steps(result)[("emu0", "t2v")]
    assert result.returncode == 1
    assert (t2v["state"], t2v["http"], t2v["actual"]) == ("failed", 200, "401"), t2v
    assert "credential" in t2v["hint"], t2v
