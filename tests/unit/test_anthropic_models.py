"""`claude-*` names resolve by family through the catalogue (any version, date or `-latest` suffix)."""

from __future__ import annotations

import json

import pytest

from qwen_server.core.catalog import ModelCatalog

FAMILIES = {"opus": "qwen3-max", "sonnet": "qwen3-coder-plus", "haiku": "qwen-plus"}  # shared/models.json


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("claude-sonnet-4-5-20250929", "sonnet"),
        ("claude-sonnet-4-5", "sonnet"),
        ("claude-sonnet-4-0", "sonnet"),
        ("claude-3-7-sonnet-20250219", "sonnet"),
        ("claude-3-7-sonnet-latest", "sonnet"),
        ("claude-3-5-sonnet-20241022", "sonnet"),
        ("claude-3.5-sonnet", "sonnet"),
        ("claude-opus-4-1", "opus"),
        ("claude-opus-4-1-20250805", "opus"),
        ("claude-opus-4-20250514", "opus"),
        ("claude-3-opus-latest", "opus"),
        ("claude-haiku-4-5", "haiku"),
        ("claude-3-5-haiku-latest", "haiku"),
        ("claude-3-5-haiku-20241022", "haiku"),
        ("claude-3-haiku-20240307", "haiku"),
        ("claude-opus-4-1@20250805", "opus"),
    ],
)
def test_claude_names_resolve_by_family(name: str, family: str) -> None:
    catalog = ModelCatalog()
    assert catalog.is_alias(name)
    resolved = catalog.resolve(name)
    assert resolved.upstream == FAMILIES[family]
    assert resolved.requested == name
    assert resolved.thinking is None


@pytest.mark.parametrize(
    "name", ["claude-2.1", "claude-instant-1.2", "claude", "qwen3-max", "my-claude-sonnet"]
)
def test_names_without_a_family_are_not_claude_aliases(name: str) -> None:
    catalog = ModelCatalog()
    assert not catalog.is_alias(name)
    assert catalog.resolve(name).upstream == name


def test_model_aliases_env_overrides_a_family() -> None:
    catalog = ModelCatalog(json.dumps({"claude-sonnet": "qwen3-max", "claude-haiku": "qwq-32b"}))
    assert catalog.resolve("claude-sonnet-4-5-20250929").upstream == "qwen3-max"
    assert catalog.resolve("claude-3-5-haiku-latest").upstream == "qwq-32b"
    assert catalog.resolve("claude-opus-4-1").upstream == "qwen3-max"


def test_an_exact_alias_wins_over_the_family() -> None:
    catalog = ModelCatalog(json.dumps({"claude-opus-4-1": {"model": "qwq-32b", "thinking": True}}))
    resolved = catalog.resolve("claude-opus-4-1")
    assert (resolved.upstream, resolved.thinking) == ("qwq-32b", True)
    assert catalog.resolve("claude-opus-4-1-20250805").upstream == "qwen3-max"
