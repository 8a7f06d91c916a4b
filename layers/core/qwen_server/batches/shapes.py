"""A batch record in each API's shape."""

from __future__ import annotations

from typing import Any

from qwen_server.batches.records import BatchRecord
from qwen_server.files.shapes import iso


def _int(ts: float | None) -> int | None:
    return None if ts is None else int(ts)


def live_counts(record: BatchRecord, counters: dict[str, int]) -> dict[str, int]:
    """Per-kind counts: the final tally once ended, else the running counters."""
    if record.ended and record.counts:
        return record.counts
    succeeded, errored = counters.get("succeeded", 0), counters.get("errored", 0)
    return {"succeeded": succeeded, "errored": errored, "canceled": 0, "expired": 0}


def openai_batch(record: BatchRecord, counts: dict[str, int]) -> dict[str, Any]:
    usage = record.usage or {}
    return {
        "id": record.id,
        "object": "batch",
        "endpoint": record.endpoint,
        "model": None,
        "errors": {"object": "list", "data": record.errors} if record.errors else None,
        "input_file_id": record.input_file_id,
        "completion_window": record.completion_window,
        "status": record.status,
        "output_file_id": record.output_file_id,
        "error_file_id": record.error_file_id,
        "created_at": int(record.created_at),
        "in_progress_at": _int(record.in_progress_at),
        "expires_at": int(record.expires_at),
        "finalizing_at": _int(record.finalizing_at),
        "completed_at": _int(record.completed_at),
        "failed_at": _int(record.failed_at),
        "expired_at": _int(record.expired_at),
        "cancelling_at": _int(record.cancelling_at),
        "cancelled_at": _int(record.cancelled_at),
        "request_counts": {
            "total": record.total,
            "completed": counts["succeeded"],
            "failed": counts["errored"] + counts["canceled"] + counts["expired"],
        },
        "usage": {
            "input_tokens": usage.get("input_tokens", 0),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage.get("output_tokens", 0),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.get("total_tokens", 0),
        },
        "metadata": record.metadata,
    }


PROCESSING_STATUS = {"cancelling": "canceling"}


def anthropic_batch(record: BatchRecord, counts: dict[str, int], base_url: str) -> dict[str, Any]:
    ended = record.ended
    ended_at = record.completed_at or record.cancelled_at or record.expired_at or record.failed_at
    done = sum(counts.values())
    return {
        "id": record.id,
        "type": "message_batch",
        "processing_status": "ended" if ended else PROCESSING_STATUS.get(record.status, "in_progress"),
        "request_counts": {
            "processing": 0 if ended else max(0, record.total - done),
            "succeeded": counts["succeeded"],
            "errored": counts["errored"],
            "canceled": counts["canceled"],
            "expired": counts["expired"],
        },
        "ended_at": iso(ended_at) if ended and ended_at else None,
        "created_at": iso(record.created_at),
        "expires_at": iso(record.expires_at),
        "archived_at": None,
        "cancel_initiated_at": iso(record.cancelling_at) if record.cancelling_at else None,
        "results_url": f"{base_url.rstrip('/')}/v1/messages/batches/{record.id}/results" if ended else None,
    }
