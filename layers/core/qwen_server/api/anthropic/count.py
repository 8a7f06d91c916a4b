"""Input token counts for `/v1/messages/count_tokens` and `message_start`, in Qwen's own vocabulary.

Text counts with `core.tokens.count_tokens` (Qwen's BPE; the characters-per-token rule only if the
vocabulary cannot be loaded). The framing is Qwen's ChatML template: `<|im_start|>role\n … <|im_end|>\n`
is `MESSAGE_OVERHEAD` tokens per message, and `<|im_start|>assistant\n` opening the reply is
`REPLY_OVERHEAD`. Images count a flat `IMAGE_TOKENS` (the upstream's real cost depends on the picture's size,
which is not decoded here); tool calls and tool definitions count as the JSON the model reads, plus
`TOOL_OVERHEAD` per definition for the wording around it.
"""

from __future__ import annotations

import orjson

from qwen_server.core.model import ImagePart, Message, ToolSpec
from qwen_server.core.tokens import count_tokens, estimate_messages_tokens

IMAGE_TOKENS = 1_000
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
    total += IMAGE_TOKENS * sum(isinstance(p, ImagePart) for m in messages for p in m.parts)
    for tool in tools:
        spec = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
        total += TOOL_OVERHEAD + count_tokens(orjson.dumps(spec).decode(), wait=wait)
    return total
