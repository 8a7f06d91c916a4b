"""How many worker processes `serve` runs, decided from `--workers`, the store and the CPU count."""

from __future__ import annotations

import pytest

from qwen_server.config import ConfigError
from qwen_server.workers import is_shared_store, worker_count, worker_log_config


def test_one_worker_per_cpu_by_default_on_a_shared_store() -> None:
    assert worker_count(None, "sqlite:///data/state.db", 4) == (4, None)
    assert worker_count(None, "redis://127.0.0.1:6379/0", 2) == (2, None)
    assert worker_count(None, "sqlite:///data/state.db", None) == (1, None)


def test_an_explicit_count_wins() -> None:
    assert worker_count(3, "sqlite:///data/state.db", 8) == (3, None)
    assert worker_count(1, "memory://", 8) == (1, None)


def test_a_memory_store_keeps_the_default_to_one_process_and_says_why() -> None:
    workers, note = worker_count(None, "memory://", 4)
    assert workers == 1
    assert note is not None and "memory://" in note and "instead of 4" in note
    assert worker_count(None, "memory://", 1) == (1, None)


@pytest.mark.parametrize(("requested", "store"), [(2, "memory://"), (0, "sqlite:///x.db"), (-1, "memory://")])
def test_counts_that_cannot_work_are_configuration_errors(requested: int, store: str) -> None:
    with pytest.raises(ConfigError, match="--workers"):
        worker_count(requested, store, 4)


def test_only_memory_is_private_to_a_process() -> None:
    assert not is_shared_store("memory://")
    assert is_shared_store("sqlite:////tmp/state.db")
    assert is_shared_store("rediss://host:6380/0")


def test_workers_log_the_gateway_at_the_chosen_level() -> None:
    loggers = worker_log_config("debug")["loggers"]
    assert isinstance(loggers, dict)
    assert loggers["qwen_server"]["level"] == "DEBUG" and loggers["httpx"] == {"level": "WARNING"}
    assert "uvicorn.error" in loggers
