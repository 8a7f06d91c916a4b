"""When blobs are reclaimed. Every blob the gateway writes for a while (a generated image behind its link, a
finished video, a file with `expires_after`, a batch's chunks, outputs and results, a large stored response)
is written with its expiry; only a file uploaded without `expires_after` is kept until it is deleted, as the
Files APIs do.

- S3 (`s3://`): the object carries the tag `qwen-expiry=<n>d`, n the smallest of `LADDER_DAYS` that covers
  its lifetime, and the bucket has one lifecycle rule per step (template.yaml) expiring tagged objects n days
  after they were written. S3 runs the rules itself, about once a day.
- Local files (`file://`): the expiry is written beside the blob (`.expiry/<key>`, epoch seconds), and
  `sweep` deletes what has passed; `serve`'s background workers and `qwen-server worker` run it every
  `BLOB_SWEEP_SECONDS`, and the scheduled batch ticks run it as often, whichever instance they reach.

Readers never rely on the reclaiming for correctness: links, files and records check their own expiry, so a
blob that outlives its time by a day is only space.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qwen_server.blob.base import BlobStore

log = logging.getLogger("qwen_server")

TAG = "qwen-expiry"
LADDER_DAYS = (1, 2, 3, 7, 14, 30, 60, 90, 180, 365)  # one lifecycle rule each in template.yaml
DAY = 86400.0


MARKS_DIR = ".expiry"  # stores without lifecycle rules keep `<MARKS_DIR>/<key>` beside each blob


def mark_bytes(expires_at: float) -> bytes:
    """An expiry mark's content: epoch seconds, as text."""
    return f"{expires_at:.3f}".encode()


def marked_expiry(mark: bytes) -> float:
    """When a mark says its blob expires (never, for a mark that cannot be read as a time)."""
    try:
        return float(mark.decode())
    except (UnicodeDecodeError, ValueError):
        return float("inf")


def lifecycle_days(expires_at: float, now: float) -> int | None:
    """The lifecycle step that reclaims a blob expiring at `expires_at`: the first at or after it (None past
    the last step: such a blob is kept until deleted)."""
    needed = max(1, math.ceil((expires_at - now) / DAY))
    return next((days for days in LADDER_DAYS if days >= needed), None)


def tag_value(days: int) -> str:
    return f"{days}d"


async def sweep_forever(
    interval: float, blob_store: Callable[[], Awaitable[BlobStore]], clock: Callable[[], float] = time.time
) -> None:
    """Sweep the blob store now and then every `interval` seconds, until cancelled; `blob_store` is asked each
    time, so a configuration error is logged and tried again."""
    from qwen_server.blob.base import BlobError
    from qwen_server.core.errors import GatewayError

    while True:
        try:
            removed = await (await blob_store()).sweep(clock())
            if removed:
                log.info("blob sweep: %d expired blob(s) removed", removed)
        except (GatewayError, BlobError, OSError) as exc:
            log.warning("blob sweep failed: %s", getattr(exc, "message", exc))
        await asyncio.sleep(interval)
