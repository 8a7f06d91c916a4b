"""How many serving processes `serve` runs: one per CPU by default, one when the store cannot be shared.

Workers share state only through the store, so a `memory://` store (which lives inside one process) would give
each worker its own accounts' slots and health: the caps would multiply silently. That is why a default worker
count falls back to one process there and an explicit one is a configuration error.
"""

from __future__ import annotations

from qwen_server.config import ConfigError


def default_workers(cpus: int | None) -> int:
    """One worker per CPU (`os.cpu_count()`; 1 when unknown)."""
    return max(1, cpus or 1)


def is_shared_store(store_url: str) -> bool:
    """True when every process opening `store_url` sees the same state."""
    return not store_url.lower().startswith("memory:")


def worker_count(requested: int | None, store_url: str, cpus: int | None) -> tuple[int, str | None]:
    """The number of worker processes, and a note for the log when it is fewer than the default.

    `requested` is `--workers` (None when not given). Raises `ConfigError` for a count that cannot work.
    """
    if requested is not None and requested < 1:
        raise ConfigError(f"--workers must be at least 1, got {requested}")
    if is_shared_store(store_url):
        return (requested or default_workers(cpus)), None
    if requested is not None and requested > 1:
        raise ConfigError(
            f"--workers {requested} needs a store shared by processes, but STORE_URL=memory:// lives in one "
            "process: use sqlite:///path (the default under DATA_DIR) or redis://..."
        )
    wanted = default_workers(cpus)
    note = None
    if requested is None and wanted > 1:
        note = f"STORE_URL=memory:// lives in one process: serving with 1 worker instead of {wanted}"
    return 1, note


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def worker_log_config(level: str) -> dict[str, object]:
    """uvicorn's logging plus the gateway's own loggers, applied inside every worker process.

    Workers are fresh interpreters (spawned), so the `logging.basicConfig` of the parent does not reach them.
    """
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, object] = {
        **LOGGING_CONFIG,
        "formatters": {**LOGGING_CONFIG["formatters"], "qwen": {"format": LOG_FORMAT}},
        "handlers": {
            **LOGGING_CONFIG["handlers"],
            "qwen": {"class": "logging.StreamHandler", "formatter": "qwen", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            **LOGGING_CONFIG["loggers"],
            "qwen_server": {"handlers": ["qwen"], "level": level.upper(), "propagate": False},
            "httpx": {"level": "WARNING"},
        },
    }
    return config
