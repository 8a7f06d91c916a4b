"""Admission control: per-class concurrency caps, bounded FIFO queues, wait timeouts, tenant fairness.

`build_scheduler(store, settings)` is what the gateway uses: a `FairScheduler` over whatever store
STORE_URL names (over `memory://` it is purely local).
"""

from __future__ import annotations

from typing import Any

from qwen_server.scheduler.base import ClassLimits, RequestClass, Scheduler
from qwen_server.scheduler.fair import FairScheduler
from qwen_server.scheduler.limits import limits_from_settings
from qwen_server.store.base import Store

__all__ = ["ClassLimits", "FairScheduler", "RequestClass", "Scheduler", "build_scheduler"]


def build_scheduler(store: Store, settings: Any) -> FairScheduler:
    """The scheduler for this instance, with limits from SCHED_* settings."""
    return FairScheduler(store, limits_from_settings(settings))
