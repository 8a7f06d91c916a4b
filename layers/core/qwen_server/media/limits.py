"""Size caps per kind, what one request may carry, and what one web-account turn may carry (the web app's
own limits).

The caps apply to every source (inline data, a fetched URL, a stored file), so an upstream is never sent
more than it takes. A request carries at most `MAX_PARTS` media parts (Anthropic's API takes 100 images per
request on its 200K-context models; OpenAI's takes more, but within 50 MB) and at most `MAX_TOTAL_BYTES`
of media in all, each distinct file counted once (enough for one video at its cap). The turn rules are the
web app's: images ≤ 5, documents ≤ 5, one audio clip, one video, and audio or video never together with
anything of another kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import MediaKind, MediaPart

MB = 1024 * 1024
MAX_BYTES: dict[MediaKind, int] = {
    "image": 20 * MB,
    "document": 20 * MB,
    "audio": 100 * MB,
    "video": 200 * MB,
}
MAX_PARTS = 100
MAX_TOTAL_BYTES = 200 * MB
WEB_MAX_COUNT: dict[MediaKind, int] = {"image": 5, "document": 5, "audio": 1, "video": 1}
# kinds that may not share a turn on a web account
WEB_EXCLUSIVE: tuple[frozenset[MediaKind], ...] = (
    frozenset({"image", "audio"}),
    frozenset({"image", "video"}),
    frozenset({"audio", "video"}),
)
PLURAL = {"image": "images", "document": "documents", "audio": "audio clips", "video": "videos"}


def check_size(kind: MediaKind, size: int, param: str) -> None:
    cap = MAX_BYTES[kind]
    if size > cap:
        raise InvalidRequest(
            f"the {kind} is {size} bytes, over the {cap // MB} MB limit for {PLURAL[kind]}",
            param=param,
            code="media_too_large",
        )


def check_count(parts: Sequence[MediaPart]) -> None:
    if len(parts) > MAX_PARTS:
        raise InvalidRequest(
            f"at most {MAX_PARTS} images, audio clips, videos and documents per request; "
            f"this request has {len(parts)}",
            param=parts[MAX_PARTS].param,
            code="too_many_media",
        )


def check_total(size: int, param: str | None) -> None:
    if size > MAX_TOTAL_BYTES:
        raise InvalidRequest(
            f"the request's media come to {size} bytes, over the {MAX_TOTAL_BYTES // MB} MB limit for one "
            "request: send fewer or smaller files",
            param=param,
            code="media_too_large",
        )


def check_web_turn(parts: Sequence[MediaPart], extra_documents: int = 0) -> None:
    """The web app's per-turn rules, before anything is uploaded (`extra_documents`: ones the gateway adds,
    such as a long conversation sent as a file)."""
    counts: Counter[MediaKind] = Counter(p.kind for p in parts)
    counts["document"] += extra_documents
    for kind, cap in WEB_MAX_COUNT.items():
        if counts[kind] > cap:
            over = [p for p in parts if p.kind == kind][cap:] or list(parts)
            raise InvalidRequest(
                f"at most {cap} {PLURAL[kind] if cap > 1 else kind} per request on this model's accounts; "
                f"this request has {counts[kind]}",
                param=over[0].param if over else None,
                code="too_many_media",
            )
    present = frozenset(k for k, n in counts.items() if n)
    for pair in WEB_EXCLUSIVE:
        if pair <= present:
            first, second = sorted(pair)
            culprit = next(p for p in parts if p.kind in pair)
            raise InvalidRequest(
                f"{first} and {second} cannot be sent together in one request on this model's accounts: "
                "send them in separate requests",
                param=culprit.param,
                code="media_mix_not_supported",
            )
