"""The media side of one web turn: uploads for the `files[]`, and the conversation itself as a file when
its flattened text is too long for one message.

Media parts are named uniquely within the turn (`image-2.png`), so the flattened text's `[image: ...]`
markers say where in the conversation each attachment sat. The web app's per-turn limits are checked before
anything is uploaded. A flattened conversation over `large_text_threshold` characters goes up as a `.txt`
document; the message then says so and repeats the end of the last turn, so the model knows what to do.
"""

from __future__ import annotations

import asyncio
from typing import Any

from qwen_server.core.model import ChatRequest, MediaPart
from qwen_server.core.prompt_guard import new_nonce
from qwen_server.media import limits, sniff
from qwen_server.media.resolve import media_parts, resolve_part
from qwen_server.providers.base import Account
from qwen_server.providers.qwen_web.prompt import flatten, render_message
from qwen_server.providers.qwen_web.upload import WebUploader

CONVERSATION_FILE = "conversation.txt"
TAIL_CHARS = 4_000
LARGE_TEXT_NOTE = (
    "The full conversation is in the attached file {name} (it is too long for one message); read all of it. "
    "Answer its last message, which ends:\n\n{tail}"
)


def name_parts(parts: list[MediaPart]) -> None:
    """Give every part a distinct file name (the client's own, else `<kind>-<n>.<ext>`)."""
    seen: set[str] = set()
    for number, part in enumerate(parts, 1):
        name = part.filename
        if not name or name in seen:
            name = f"{part.kind}-{number}.{sniff.extension(part.media_type or '')}"
        seen.add(name)
        part.filename = name


def inline_for_large(request: ChatRequest, name: str, nonce: str) -> str:
    """The message sent with the conversation file: a pointer to it and the end of the last turn (its header
    with the file's nonce)."""
    turns = [m for m in request.messages if m.role != "system"]
    last = render_message(turns[-1], nonce) if turns else ""
    tail = last if len(last) <= TAIL_CHARS else "…" + last[-TAIL_CHARS:]
    return LARGE_TEXT_NOTE.format(name=name, tail=tail)


async def prepare_turn(
    uploader: WebUploader, account: Account, request: ChatRequest, *, large_text_threshold: int
) -> tuple[str, list[dict[str, Any]]]:
    """(message content, files[]) for the turn; every upload on `account`."""
    parts = media_parts(request.messages)
    for part in parts:
        await resolve_part(part, request.tenant)  # a no-op for parts the gateway already prepared
    name_parts(parts)
    nonce = new_nonce()
    content = flatten(
        request.messages, system_extra=str(request.extra.get("system_extra") or ""), nonce=nonce
    )
    large = len(content) > large_text_threshold
    limits.check_web_turn(parts, extra_documents=int(large))
    files = list(
        await asyncio.gather(
            *(
                uploader.upload_part(
                    account,
                    p.data or b"",
                    media_type=p.media_type or "application/octet-stream",
                    filename=p.filename or p.kind,
                    kind=p.kind,
                )
                for p in parts
            )
        )
    )
    if large:
        files.append(
            await uploader.upload_part(
                account,
                content.encode("utf-8"),
                media_type="text/plain",
                filename=CONVERSATION_FILE,
                kind="document",
            )
        )
        content = inline_for_large(request, CONVERSATION_FILE, nonce)
    return content, files
