"""Shared state behind one small async interface; the backend is chosen by `STORE_URL`.

Backend modules are imported only when their scheme is named, so a function that never talks to Redis or
DynamoDB never imports redis-py or boto3.
"""

from __future__ import annotations

from qwen_server.store.base import Store, StoreError

__all__ = ["Store", "StoreError", "open_store"]


def open_store(url: str) -> Store:
    """Build the store named by `url` (memory://, sqlite:///path, redis://..., dynamodb://TABLE?...)."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        from qwen_server.store.memory import MemoryStore

        return MemoryStore()
    if scheme == "sqlite":
        from qwen_server.store.sqlite import SQLiteStore

        return SQLiteStore.from_url(url)
    if scheme in ("redis", "rediss"):
        from qwen_server.store.redis import RedisStore

        return RedisStore.from_url(url)
    if scheme == "dynamodb":
        from qwen_server.store.dynamodb import DynamoDBStore

        return DynamoDBStore.from_url(url)
    raise StoreError(
        f"STORE_URL has an unknown scheme {scheme!r}: use memory://, sqlite:///path, redis://host:port/db "
        "or dynamodb://TABLE?region=..."
    )
