"""Input token counts for `/v1/messages/count_tokens` and `message_start`: an estimate, labelled as such.

No Qwen tokenizer ships with the gateway (its vocabulary is megabytes, and a tokenizer library would be a
native dependency on every cold start), so this counts with `core.tokens.estimate_tokens`: one token per
CJK character, four characters per token otherwise, plus a few tokens of framing per message. Images count
a flat `IMAGE_TOKENS` (the upstream's real cost depends on the picture's size, which is not decoded here);
tool calls and tool definitions count as the JSON the model reads. Expect it within roughly ±20 % of the
upstream's own count for English prose and code.
"""

from __future__ import annotations

import orjson

from qwen_server.core.model import ImagePart, Message, ToolSpec
from qwen_server.core.tokens import estimate_messages_tokens, estimate_tokens

IMAGE_TOKENS = 1_000
TOOL_OVERHEAD = 10  # per definition: the framing the tool prompt wraps around each signature


def _message_text(message: Message) -> str:
    pieces = [message.text]
    pieces.extend(
        orjson.dumps({"name": call.name, "arguments": call.arguments}).decode() for call in message.tool_calls
    )
    return "\n".join(p for p in pieces if p)


def count_input_tokens(messages: list[Message], tools: list[ToolSpec]) -> int:
    total = estimate_messages_tokens([_message_text(m) for m in messages])
    total += IMAGE_TOKENS * sum(isinstance(p, ImagePart) for m in messages for p in m.parts)
    for tool in tools:
        spec = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
        total += TOOL_OVERHEAD + estimate_tokens(orjson.dumps(spec).decode())
    return total
