"""Input token counts for `/v1/messages/count_tokens` and `message_start`, in Qwen's own vocabulary.

Text counts with `core.tokens.count_tokens` (Qwen's BPE; the characters-per-token rule only if the
vocabulary cannot be loaded). The framing is Qwen's ChatML template: `<|im_start|>role\n … <|im_end|>\n`
is `MESSAGE_OVERHEAD` tokens per message, and `<|im_start|>assistant\n` opening the reply is
`REPLY_OVERHEAD`. Media count by `media_tokens`: an image a flat `IMAGE_TOKENS` (the upstream's real cost
depends on the picture's size, which is not decoded here), a text document as its text, a PDF
`PDF_PAGE_TOKENS` per page, audio and video by their size; tool calls and tool definitions count as the JSON the model reads, plus
`TOOL_OVERHEAD` per definition for the wording around it.
"""

from __future__ import annotations

import functools

import orjson

from qwen_server.core import offload
from qwen_server.core.model import MediaPart, Message, ToolSpec
from qwen_server.core.tokens import OFF_LOOP_CHARS, count_tokens, estimate_messages_tokens

IMAGE_TOKENS = 1_000
PDF_PAGE_TOKENS = 1_500
AUDIO_BYTES_PER_TOKEN = 1_000  # ~25 tokens a second of 16 kHz mono WAV, or of a 200 kbit/s compressed file
VIDEO_BYTES_PER_TOKEN = 10_000
TOOL_OVERHEAD = 10  # per definition: the framing the tool prompt wraps around each signature
MESSAGE_OVERHEAD = 5  # <|im_start|> role \n … <|im_end|> \n
REPLY_OVERHEAD = 3  # <|im_start|> assistant \n


def _message_text(message: Message) -> str:
    pieces = [message.text]
    pieces.extend(
        orjson.dumps({"name": call.name, "arguments": call.arguments}).decode() for call in message.tool_calls
    )
    return "\n".join(p for p in pieces if p)


def count_input_tokens(messages: list[Message], tools: list[ToolSpec], *, wait: bool = True) -> int:
    """The prompt's tokens in Qwen's chat template. `wait=False`: do not wait for a vocabulary still loading
    (the first request of a process), count by the rule instead."""
    texts = [_message_text(m) for m in messages]
    total = estimate_messages_tokens(texts, MESSAGE_OVERHEAD, REPLY_OVERHEAD, wait=wait)
    total += sum(media_tokens(p, wait) for m in messages for p in m.parts if isinstance(p, MediaPart))
    for tool in tools:
        spec = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
        total += TOOL_OVERHEAD + count_tokens(orjson.dumps(spec).decode(), wait=wait)
    return total


async def count_input_tokens_off_loop(
    messages: list[Message], tools: list[ToolSpec], *, wait: bool = True
) -> int:
    """`count_input_tokens`, in a worker thread when the prompt is long: tokenising megabytes takes CPU
    seconds that the event loop, which streams every other answer, must not spend."""
    size = sum(len(m.text) for m in messages) + sum(len(orjson.dumps(t.parameters)) for t in tools)
    size += sum(len(p.data or b"") for m in messages for p in m.parts if isinstance(p, MediaPart))
    if size < OFF_LOOP_CHARS:
        return count_input_tokens(messages, tools, wait=wait)
    return await offload.run(functools.partial(count_input_tokens, messages, tools, wait=wait))


def media_tokens(part: MediaPart, wait: bool = True) -> int:
    """A sensible estimate without decoding the media (parts by URL or file id: the kind's flat figure)."""
    data = part.data
    if part.kind == "image" or data is None:
        return IMAGE_TOKENS if part.kind != "video" else IMAGE_TOKENS * 4
    if part.kind == "audio":
        return max(1, len(data) // AUDIO_BYTES_PER_TOKEN)
    if part.kind == "video":
        return max(IMAGE_TOKENS, len(data) // VIDEO_BYTES_PER_TOKEN)
    if data[:5] == b"%PDF-":
        pages = max(
            data.count(b"/Type /Page") - data.count(b"/Type /Pages"),
            data.count(b"/Type/Page") - data.count(b"/Type/Pages"),
        )
        return PDF_PAGE_TOKENS * max(1, pages)
    return count_tokens(data.decode("utf-8", errors="replace"), wait=wait)
