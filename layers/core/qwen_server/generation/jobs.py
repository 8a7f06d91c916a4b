"""Video jobs as store records: one per video, keyed by its tenant, so another tenant's id finds nothing.

video:job:{tenant}:{video_id}   the job as JSON, with a TTL past its expiry
video:poll:{video_id}           lease group (limit 1): one upstream poll of a job at a time
video:tick                      lease group (limit 1): one worker pass at a time
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import orjson

Status = Literal["queued", "in_progress", "completed", "failed"]
JOB_PREFIX = "video:job:"
TERMINAL = frozenset({"completed", "failed"})


def job_key(tenant: str, video_id: str) -> str:
    return f"{JOB_PREFIX}{tenant}:{video_id}"


def poll_key(video_id: str) -> str:
    return f"video:poll:{video_id}"


TICK_KEY = "video:tick"


@dataclass(slots=True)
class VideoJob:
    id: str
    tenant: str
    model: str
    prompt: str
    size: str  # as the client asked (WxH)
    seconds: str
    ratio: str
    account_id: str  # the account that made the upstream task: only it may poll it
    task_id: str
    created_at: int
    status: Status = "queued"
    progress: int = 0
    completed_at: int | None = None
    expires_at: int | None = None
    error: dict[str, str] | None = None
    polled_at: float = 0.0
    blob_key: str | None = None

    def public(self) -> dict[str, Any]:
        """OpenAI's video object: no account, task or blob names."""
        return {
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": self.status,
            "progress": self.progress,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "expires_at": self.expires_at,
            "size": self.size,
            "seconds": self.seconds,
            "prompt": self.prompt,
            "remixed_from_video_id": None,
            "error": self.error,
        }


_FIELDS = frozenset(f.name for f in fields(VideoJob))


def encode(job: VideoJob) -> bytes:
    return orjson.dumps(asdict(job))


def decode(raw: bytes) -> VideoJob:
    data = orjson.loads(raw)
    return VideoJob(**{k: v for k, v in data.items() if k in _FIELDS})
