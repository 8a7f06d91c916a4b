"""Token estimates for when an upstream reports no usage.

Qwen's tokenizer gives roughly one token per CJK character and about four characters per token for English
text and code; this estimate follows that rule. It is labelled as an estimate wherever it is reported.
"""

from __future__ import annotations

import re

_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\u3040-\u30ff]")


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    wide = len(_WIDE.findall(text))
    narrow = len(text) - wide
    return wide + (narrow + 3) // 4


def estimate_messages_tokens(texts: list[str], per_message_overhead: int = 4) -> int:
    return sum(estimate_tokens(t) + per_message_overhead for t in texts) + 3
