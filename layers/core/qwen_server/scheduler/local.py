"""The one-process scheduler: the fair scheduler over an in-memory store (no shared state, no network).

Kept under its old names for callers that want admission control without a store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qwen_server.scheduler.base import ClassLimits, RequestClass
from qwen_server.scheduler.fair import FairScheduler
from qwen_server.scheduler.limits import limits_from_settings
from qwen_server.store.memory import MemoryStore

__all__ = ["ClassLimits", "LocalScheduler", "local_scheduler"]


class LocalScheduler(FairScheduler):
    def __init__(self, limits: Mapping[RequestClass, ClassLimits]) -> None:
        super().__init__(MemoryStore(), limits, instance_id="local")


def local_scheduler(store: object, settings: Any) -> LocalScheduler:
    """Limits from settings; `store` unused (one process)."""
    return LocalScheduler(limits_from_settings(settings))
