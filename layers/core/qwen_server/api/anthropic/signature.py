"""The `signature` of a thinking block.

Anthropic's clients keep a thinking block's signature and send it back with the block; they never read it.
The gateway cannot produce Anthropic's (it is Anthropic's own attestation), so it returns an opaque,
deterministic stand-in: base64 of HMAC-SHA256 over the thinking text, keyed by a fixed label. It is not
a secret and is never verified: thinking blocks that come back in history are dropped, not trusted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_KEY = b"qwen-api-server/thinking-signature/v1"


class ThinkingSigner:
    """Signs one thinking block as its text streams in (the text is not kept)."""

    def __init__(self) -> None:
        self._mac = hmac.new(_KEY, digestmod=hashlib.sha256)

    def update(self, text: str) -> None:
        self._mac.update(text.encode())

    def signature(self) -> str:
        return base64.b64encode(self._mac.digest()).decode()


def sign_thinking(text: str) -> str:
    signer = ThinkingSigner()
    signer.update(text)
    return signer.signature()
