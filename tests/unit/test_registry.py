"""Account entries: validation, defaults, stable ids, and no secret in any message or repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_server.pool.registry import AccountConfigError, AccountRegistry, parse_entry, read_file


def test_defaults_for_a_web_account() -> None:
    account = parse_entry({"email": "a@b.c", "password": "pw-secret"}, 0)
    assert account.kind == "qwen-web" and account.base_url == "https://chat.qwen.ai"
    assert account.name == "a" and account.max_concurrent == 4
    assert "pw-secret" not in repr(account) and "pw-secret" not in str(account.public())
    assert parse_entry({"email": "a@b.c", "password": "pw-secret"}, 0).id == account.id


def test_openai_kind_needs_an_api_key_and_keeps_base_url() -> None:
    account = parse_entry({"kind": "openai", "base_url": "http://h:1/v1/", "api_key": "sk-x"}, 0)
    assert account.base_url == "http://h:1/v1" and account.kind == "openai"
    with pytest.raises(AccountConfigError, match="api_key"):
        parse_entry({"kind": "openai", "base_url": "http://h:1/v1"}, 3)


@pytest.mark.parametrize(
    "entry",
    [{"email": "a@b.c"}, {"kind": "martian", "api_key": "k"}, "just a string", {"password": "only-pw"}],
)
def test_bad_entries_are_refused_without_echoing_secrets(entry: object) -> None:
    with pytest.raises(AccountConfigError) as info:
        parse_entry(entry, 2)  # type: ignore[arg-type]
    assert "#2" in str(info.value)
    assert "only-pw" not in str(info.value)


def test_python_file_is_read_without_executing_it(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "qwen_accounts.py"
    path.write_text(f"open({str(marker)!r}, 'w')\nACCOUNTS = [{{'email': 'x@y.z', 'password': 'p'}}]\n")
    accounts = read_file(path)
    assert [a.email for a in accounts] == ["x@y.z"]
    assert not marker.exists()


def test_env_json_wins_and_bad_json_is_reported(tmp_path: Path) -> None:
    registry = AccountRegistry('[{"email": "e@f.g", "password": "p"}]', None)
    assert [a.email for a in registry.accounts()] == ["e@f.g"] and registry.source == "QWEN_ACCOUNTS"
    broken = AccountRegistry("[{", None)
    assert broken.accounts() == [] and broken.error is not None


def test_models_must_be_a_list_not_a_string() -> None:
    with pytest.raises(AccountConfigError, match=r"#1: `models` must be a list .*\['qwen3-max'\]"):
        parse_entry({"kind": "dashscope", "api_key": "sk-x", "models": "qwen3-max"}, 1)
    with pytest.raises(AccountConfigError, match="list of model ids"):
        parse_entry({"kind": "dashscope", "api_key": "sk-x", "models": ["qwen3-max", 7]}, 1)
    account = parse_entry({"kind": "dashscope", "api_key": "sk-x", "models": ["qwen3-max", "qwen-plus"]}, 1)
    assert account.models == ("qwen3-max", "qwen-plus")
