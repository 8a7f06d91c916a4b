"""What every account kind's media flow takes and gives back, and the interface it implements: the provider
layer's side of image and video generation (`generation/` runs it; the providers implement it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from qwen_server.providers.base import Account


@dataclass(frozen=True, slots=True)
class InputImage:
    """An image the client sent (an edit's source, a video's first frame)."""

    data: bytes
    media_type: str
    filename: str


@dataclass(frozen=True, slots=True)
class ImageAsk:
    prompt: str
    ratio: str  # one of media_sizes.RATIOS
    model: str  # the upstream model for this account's kind
    source: InputImage | None = None  # set: an edit of this image


@dataclass(frozen=True, slots=True)
class Produced:
    """One result: where the upstream put it (a keyed URL, never shown to clients) or its bytes."""

    url: str | None = None
    data: bytes | None = None
    media_type: str = "image/png"


@dataclass(frozen=True, slots=True)
class VideoAsk:
    prompt: str
    ratio: str
    model: str
    seconds: int
    source: InputImage | None = None  # set: image-to-video


TaskStatus = Literal["running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class TaskState:
    status: TaskStatus
    url: str | None = None  # the result, when succeeded (upstream, keyed: for the gateway only)
    error: str | None = None


class MediaProvider(Protocol):
    """One account kind's image and video flows; raises the product's `GatewayError`s only."""

    async def images(self, account: Account, ask: ImageAsk) -> list[Produced]:
        """One generation turn (the web draws one image per turn)."""
        ...

    async def submit_video(self, account: Account, ask: VideoAsk) -> str:
        """Start a video; the upstream task id, to poll with the same account."""
        ...

    async def video_status(self, account: Account, task_id: str) -> TaskState: ...

    async def download(self, account: Account, url: str, limit: int) -> bytes:
        """The bytes behind a result URL, at most `limit` of them."""
        ...
