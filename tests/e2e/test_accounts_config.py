"""Accounts from a file, hot reload without restart, and secrets kept out of logs and responses."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest

from tests.processes import Service, emulator_accounts, start_gateway


def _ask(client: openai.OpenAI, text: str) -> str:
    reply = client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


def _wait_for(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("fmt", ["json", "toml", "py"])
def test_accounts_file_formats_and_hot_reload(emulator: Service, tmp_path: Path, fmt: str) -> None:
    accounts = emulator_accounts(emulator, 2)
    path = tmp_path / f"qwen_accounts.{fmt}"

    def write(entries: list[dict[str, str]]) -> None:
        if fmt == "json":
            path.write_text(json.dumps(entries))
        elif fmt == "py":
            path.write_text(f"# my accounts\nACCOUNTS = {entries!r}\n")
        else:
            lines = []
            for entry in entries:
                lines.append("[[accounts]]")
                lines.extend(f'{k} = "{v}"' for k, v in entry.items())
            path.write_text("\n".join(lines) + "\n")

    write(accounts[:1])
    # the local default store: SQLite under DATA_DIR
    gateway = start_gateway({"QWEN_ACCOUNTS_FILE": str(path), "STORE_URL": ""})
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        assert _ask(client, "from the file") == "from the file"
        metrics_client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k")

        def names() -> list[str]:
            data = metrics_client.get("/metrics", cast_to=object)
            return sorted(a["name"] for a in data["accounts"])  # type: ignore[index]

        assert names() == ["emu0"]
        assert (gateway.extra["cwd"] / "data" / "state.db").exists()
        write(accounts)  # add one
        _wait_for(lambda: names() == ["emu0", "emu1"])
        write(accounts[1:])  # remove the first
        _wait_for(lambda: names() == ["emu1"])
        assert _ask(client, "after reload") == "after reload"
        write([])
        _wait_for(lambda: names() == [])
        with pytest.raises(openai.APIStatusError) as info:
            _ask(client, "nobody left")
        assert info.value.status_code == 503
    finally:
        gateway.stop()


def test_a_broken_file_keeps_the_previous_accounts(emulator: Service, tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps(emulator_accounts(emulator, 1)))
    gateway = start_gateway({"QWEN_ACCOUNTS_FILE": str(path)})
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        assert _ask(client, "first") == "first"
        path.write_text("[{not json")

        def reported() -> bool:
            metrics = client.get("/metrics", cast_to=object)
            return "JSONDecodeError" in str(metrics["accounts_error"])  # type: ignore[index]

        _wait_for(reported)  # the file is read again within a second or so; the error is reported...
        assert _ask(client, "still served") == "still served"  # ...and the previous accounts kept
    finally:
        gateway.stop()


def test_passwords_and_tokens_never_reach_logs_or_responses(emulator: Service) -> None:
    secret = "S3cret-pa55word-xyz"
    accounts = [
        {"email": "user0@emulator.local", "password": "password0", "base_url": emulator.url},
        {"email": "nobody@emulator.local", "password": secret, "base_url": emulator.url},
    ]
    gateway = start_gateway({"DEBUG": "1", "QWEN_BX_UA": "bx-ua-secret-fingerprint"}, accounts=accounts)
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key-abc", max_retries=0)
        seen: list[str] = []
        for i in range(6):
            try:
                seen.append(_ask(client, f"hello {i}"))
            except openai.APIStatusError as exc:
                seen.append(exc.message)
        metrics = client.get("/metrics", cast_to=object)
        tokens = [
            a.get("tokens_issued", 0)
            for a in client.get(f"{emulator.url}/_emulator/stats", cast_to=object)["accounts"].values()
        ]  # type: ignore[index]
        assert sum(tokens) >= 1
        everything = gateway.log() + json.dumps(metrics) + " ".join(seen)
        for needle in (secret, "password0", "client-key-abc", "bx-ua-secret-fingerprint", "token="):
            assert needle not in everything, needle
        assert "eyJ" not in everything, "no JWT in logs"
    finally:
        gateway.stop()
