"""Per-class limits from `Settings` (SCHED_<CLASS>_{CONCURRENT,QUEUE,TIMEOUT})."""

from __future__ import annotations

from typing import Any

from qwen_server.scheduler.base import ClassLimits, RequestClass

CLASSES: tuple[RequestClass, ...] = ("chat", "media", "aux", "batch")


def limits_from_settings(settings: Any) -> dict[RequestClass, ClassLimits]:
    return {
        cls: ClassLimits(
            concurrent=int(getattr(settings, f"sched_{cls}_concurrent")),
            queue=int(getattr(settings, f"sched_{cls}_queue")),
            timeout=float(getattr(settings, f"sched_{cls}_timeout")),
        )
        for cls in CLASSES
    }
