"""OpenAI's Videos API over video jobs: create answers as soon as the upstream took the task; reads poll the
upstream through the account that made it, at most every `poll_seconds` per job (one poller at a time, the
answer cached in the job record); a finished video is copied to the blob store, and the job (with its bytes)
expires `keep_seconds` after it ended.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError, InvalidRequest, NotFound
from qwen_server.generation import jobs
from qwen_server.generation.catalog import MediaModel
from qwen_server.generation.jobs import TERMINAL, VideoJob
from qwen_server.providers.media import InputImage, MediaProvider, VideoAsk

if TYPE_CHECKING:  # the pool and the blob store load with the first request, not at import
    from qwen_server.blob.service import Blobs
    from qwen_server.generation.runner import MediaRunner
    from qwen_server.providers.base import Account
    from qwen_server.store.base import Store

log = logging.getLogger("qwen_server.generation")
MAX_VIDEO_BYTES = 256 * 1024 * 1024
POLL_LEASE_SECONDS = 120.0  # a poller that died frees the job this long after
TASK_LIFETIME = 86400.0  # upstream task ids live a day: a job still running after that has failed


@dataclass(frozen=True, slots=True)
class VideoOrder:
    tenant: str
    model: MediaModel
    prompt: str
    size: str
    ratio: str
    seconds: int
    source: InputImage | None = None


class Videos:
    def __init__(
        self, runner: MediaRunner, store: Store, blobs: Blobs, *, poll_seconds: float, keep_seconds: float
    ) -> None:
        self.runner = runner
        self.store = store
        self.blobs = blobs
        self.poll_seconds = poll_seconds
        self.keep_seconds = keep_seconds

    # ---- the API -----------------------------------------------------------------------------------
    async def create(self, order: VideoOrder) -> VideoJob:
        async def submit(account: Account, upstream: str, provider: MediaProvider) -> str:
            ask = VideoAsk(order.prompt, order.ratio, upstream, order.seconds, order.source)
            return await provider.submit_video(account, ask)

        i2v = order.source is not None
        task_id, account = await self.runner.run(order.tenant, order.model, submit, i2v=i2v)
        now = time.time()  # two jobs of one millisecond sort by their random part
        job = VideoJob(
            id=f"video_{int(now * 1000):012x}{secrets.token_hex(10)}",  # sorts by creation
            tenant=order.tenant,
            model=order.model.name,
            prompt=order.prompt,
            size=order.size,
            seconds=str(order.seconds),
            ratio=order.ratio,
            account_id=account.id,
            task_id=task_id,
            created_at=int(now),
            polled_at=now,
        )
        await self._save(job)
        return job

    async def get(self, tenant: str, video_id: str) -> VideoJob:
        """The job, advanced first when its cached state is older than `poll_seconds`."""
        job = await self._load(tenant, video_id)
        if job.status not in TERMINAL and time.time() - job.polled_at >= self.poll_seconds:
            job = await self.advance(job)
        return job

    async def page(
        self, tenant: str, *, after: str | None, limit: int, order: str
    ) -> tuple[list[VideoJob], bool]:
        found = [jobs.decode(raw) for raw in (await self.store.scan(jobs.job_key(tenant, ""))).values()]
        found.sort(key=lambda j: j.id, reverse=order == "desc")
        if after is not None:
            ids = [j.id for j in found]
            if after not in ids:
                raise InvalidRequest(f"`after` names no video of yours: {after!r}", param="after")
            found = found[ids.index(after) + 1 :]
        return found[:limit], len(found) > limit

    async def delete(self, tenant: str, video_id: str) -> None:
        job = await self._load(tenant, video_id)
        if job.blob_key:
            await self.blobs.store.delete(job.blob_key)
        await self.store.delete(jobs.job_key(tenant, video_id))

    async def content(self, tenant: str, video_id: str) -> tuple[int, AsyncIterator[bytes]]:
        job = await self.get(tenant, video_id)
        if job.status != "completed" or job.blob_key is None:
            raise InvalidRequest(
                f"video {video_id} is {job.status}: its content is there once it is completed",
                code="video_not_ready",
            )
        size = await self.blobs.store.size(job.blob_key)
        if size is None:
            raise NotFound(f"video {video_id}'s content has expired", code="video_not_found")
        return size, self.blobs.store.open(job.blob_key)

    # ---- advancing ---------------------------------------------------------------------------------
    async def advance(self, job: VideoJob) -> VideoJob:
        """Poll the upstream once for `job` (unless another poller holds it) and keep what it said."""
        holder = secrets.token_hex(8)
        key = jobs.poll_key(job.id)
        if not await self.store.lease_acquire(key, holder, 1, POLL_LEASE_SECONDS):
            return job  # someone else is polling it right now: the cached answer stands
        try:
            current = await self._find(job.tenant, job.id)
            if current is None or current.status in TERMINAL:
                return current or job
            if time.time() - current.polled_at < self.poll_seconds and current.polled_at != job.polled_at:
                return current  # polled by another reader since we looked
            await self._poll(current)
            await self._save(current)
            return current
        finally:
            await cleanup.complete(self.store.lease_release(key, holder))

    async def _poll(self, job: VideoJob) -> None:
        now = time.time()
        job.polled_at = now
        account = next((a for a in self.runner.pool.accounts() if a.id == job.account_id), None)
        if account is None or account.kind not in self.runner.providers:
            self._fail(job, "the account that made this video is no longer configured", now)
            return
        provider = self.runner.providers[account.kind]
        try:
            state = await provider.video_status(account, job.task_id)
        except GatewayError as exc:  # a passing upstream problem: try again at the next poll
            log.info("video %s: status poll failed: %s", job.id, exc.message)
            if now - job.created_at > TASK_LIFETIME:
                self._fail(job, "the upstream task did not finish within a day", now)
            return
        if state.status == "running":
            job.status = "in_progress"
            elapsed = now - job.created_at
            job.progress = max(job.progress, min(95, int(100 * elapsed / (elapsed + 120))))
            return
        if state.status == "failed" or state.url is None:
            self._fail(job, state.error or "the upstream could not make this video", now)
            return
        try:
            data = await provider.download(account, state.url, MAX_VIDEO_BYTES)
        except GatewayError as exc:
            log.info("video %s: reading the result failed: %s", job.id, exc.message)
            return
        job.blob_key = f"videos/{job.tenant}/{job.id}.mp4"
        await self.blobs.store.put_bytes(job.blob_key, data, "video/mp4", expires_at=now + self.keep_seconds)
        job.status, job.progress = "completed", 100
        job.completed_at = int(now)
        job.expires_at = int(now + self.keep_seconds)

    def _fail(self, job: VideoJob, message: str, now: float) -> None:
        job.status = "failed"
        job.error = {"code": "video_generation_failed", "message": message}
        job.completed_at = int(now)
        job.expires_at = int(now + self.keep_seconds)

    # ---- the scheduled worker ----------------------------------------------------------------------
    async def tick(self) -> dict[str, int]:
        """One worker pass: advance the jobs nobody polled lately, drop expired ones (and their bytes)."""
        holder = secrets.token_hex(8)
        if not await self.store.lease_acquire(jobs.TICK_KEY, holder, 1, POLL_LEASE_SECONDS):
            return {"advanced": 0, "completed": 0, "expired": 0, "pending": 0, "skipped": 1}
        advanced = expired = completed = pending = 0
        try:
            now = time.time()
            for raw in (await self.store.scan(jobs.JOB_PREFIX)).values():
                job = jobs.decode(raw)
                if job.status in TERMINAL:
                    if job.expires_at is not None and job.expires_at <= now:
                        await self.delete(job.tenant, job.id)
                        expired += 1
                    continue
                if now - job.polled_at >= self.poll_seconds:
                    job = await self.advance(job)
                    advanced += 1
                    completed += job.status == "completed"
                pending += job.status not in TERMINAL
        finally:
            await cleanup.complete(self.store.lease_release(jobs.TICK_KEY, holder))
        return {
            "advanced": advanced,
            "completed": completed,
            "expired": expired,
            "pending": pending,  # jobs still running upstream after this pass
            "skipped": 0,
        }

    # ---- records -----------------------------------------------------------------------------------
    async def _find(self, tenant: str, video_id: str) -> VideoJob | None:
        raw = await self.store.get(jobs.job_key(tenant, video_id))
        return jobs.decode(raw) if raw is not None else None

    async def _load(self, tenant: str, video_id: str) -> VideoJob:
        job = await self._find(tenant, video_id) if video_id.startswith("video_") else None
        if job is None:
            raise NotFound(f"no video {video_id!r}", param="video_id", code="video_not_found")
        return job

    async def _save(self, job: VideoJob) -> None:
        ttl = (job.expires_at - time.time() if job.expires_at else TASK_LIFETIME) + self.keep_seconds
        await self.store.set(jobs.job_key(job.tenant, job.id), jobs.encode(job), ttl=max(60.0, ttl))
