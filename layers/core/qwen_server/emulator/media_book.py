"""The emulator's media world: daily quotas per account and capability, video tasks, and CDN files.

Files are not kept: a CDN path names what to draw (kind, ratio, seed), and its `key` query is an HMAC of the
path, so only URLs the emulator handed out are served, as a keyed CDN would.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid
from dataclasses import dataclass

QUOTA_RESET_HOURS = 6  # the `num` of a RateLimited answer
CAPABILITY = {"t2i": "image", "image_edit": "image", "t2v": "video", "i2v": "video"}


@dataclass(slots=True)
class VideoTask:
    owner: str  # account index (web) or API key (DashScope)
    chat_type: str
    ratio: str
    prompt: str
    started: float
    seconds: float
    fails: bool
    url: str = ""


class MediaBook:
    def __init__(self, image_quota: int, video_quota: int, video_seconds: float) -> None:
        self.quota = {"image": image_quota, "video": video_quota}
        self.video_seconds = video_seconds
        self.used: dict[tuple[str, str], int] = {}
        self.tasks: dict[str, VideoTask] = {}
        self.turns: dict[str, int] = {}  # accepted turns by chat type (`GET /_emulator/media`)
        self._secret = os.urandom(32)

    def spend(self, owner: str, capability: str) -> bool:
        """Count one use; False (and nothing counted) when today's quota is spent."""
        used = self.used.get((owner, capability), 0)
        if used >= self.quota[capability]:
            return False
        self.used[(owner, capability)] = used + 1
        return True

    def count(self, chat_type: str) -> None:
        self.turns[chat_type] = self.turns.get(chat_type, 0) + 1

    def report(self) -> dict[str, object]:
        used = {f"{owner}:{capability}": n for (owner, capability), n in self.used.items()}
        return {"turns": dict(self.turns), "used": used, "tasks": len(self.tasks)}

    def cdn_url(self, base: str, owner: str, kind: str, ratio: str, ext: str, seed: str) -> str:
        path = f"/output/{owner}/{kind}/{ratio.replace(':', 'x')}/{uuid.uuid4().hex}-{_safe(seed)}.{ext}"
        return f"{base.rstrip('/')}{path}?key={self._sign(path)}"

    def key_ok(self, path: str, key: str) -> bool:
        return hmac.compare_digest(self._sign(path), key)

    def _sign(self, path: str) -> str:
        return hmac.new(self._secret, path.encode(), hashlib.sha256).hexdigest()[:40]

    def new_task(self, owner: str, chat_type: str, ratio: str, prompt: str) -> str:
        task_id = str(uuid.uuid4())
        self.tasks[task_id] = VideoTask(
            owner, chat_type, ratio, prompt, time.monotonic(), self.video_seconds, "[[video:fail]]" in prompt
        )
        return task_id

    def state(self, task: VideoTask) -> str:
        """running until the task's time is up, then success (or failed when the prompt asked for it)."""
        if time.monotonic() - task.started < task.seconds:
            return "running"
        return "failed" if task.fails else "success"


def _safe(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:12]
