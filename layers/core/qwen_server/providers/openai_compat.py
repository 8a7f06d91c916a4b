"""Any OpenAI-compatible upstream (self-hosted Qwen servers, DashScope's compatible mode, other gateways).

The body is built from the `DIALECTS` table (`openai_dialects`), the answer read back into neutral events by
`openai_events`; this module does the I/O and maps HTTP errors into the product's error tree. These upstreams
speak tools, `response_format` and logprobs themselves, hence `native_tools`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from qwen_server.core import cleanup
from qwen_server.core.errors import UpstreamAuthError, UpstreamError
from qwen_server.core.model import FLUSH, ChatRequest, Event
from qwen_server.core.sse import SSEParser
from qwen_server.providers.base import Account, ModelInfo
from qwen_server.providers.http import ClientRegistry, drain
from qwen_server.providers.openai_dialects import build_body
from qwen_server.providers.openai_errors import classify
from qwen_server.providers.openai_events import StreamReader, completion_events


class OpenAICompatProvider:
    native_tools = True  # tools, tool_choice, response_format and logprobs go to the upstream as they are

    def __init__(self, clients: ClientRegistry) -> None:
        self._clients = clients

    @staticmethod
    def _headers(account: Account) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.api_key}", "Content-Type": "application/json"}

    async def list_models(self, account: Account) -> list[ModelInfo]:
        client = self._clients.get(account.base_url)
        response = await client.fetch("GET", f"{account.base_url}/models", headers=self._headers(account))
        if response.status >= 400:
            raise classify(response.status, response.body, response.headers)
        try:
            payload = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise UpstreamError("upstream listed its models in a body that is not JSON") from None
        items = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise UpstreamError("upstream listed its models without a `data` list")
        return [
            ModelInfo(id=str(m["id"]), owned_by=str(m.get("owned_by") or "upstream"))
            for m in items
            if isinstance(m, dict) and m.get("id")
        ]

    async def verify(self, account: Account) -> None:
        """`GET {base_url}/models`: the cheapest call that needs the key and no model entitlement."""
        client = self._clients.get(account.base_url)
        response = await client.fetch("GET", f"{account.base_url}/models", headers=self._headers(account))
        if response.status in (401, 403):
            raise UpstreamAuthError(
                f"account {account.name}: the API key was refused by {account.base_url}/models "
                f"(HTTP {response.status})"
            )
        if response.status >= 400:
            raise classify(response.status, response.body, response.headers)

    async def stream(self, request: ChatRequest, account: Account) -> AsyncIterator[Event]:
        """Streams from the upstream when the client streams; otherwise asks for one JSON body (fewer
        round trips on the wire) and yields the same events from it."""
        client = self._clients.get(account.base_url)
        payload = build_body(request, account.kind)
        if not request.stream:
            payload["stream"] = False
            payload.pop("stream_options", None)
        response = await client.open(
            "POST",
            f"{account.base_url}/chat/completions",
            content=orjson.dumps(payload),
            headers=self._headers(account),
        )
        try:
            if response.status >= 400:
                raise classify(response.status, await response.read(), response.headers)
            if "event-stream" not in response.headers.get("content-type", ""):
                for event in completion_events(await response.read()):
                    yield event
                return
            reader = StreamReader()
            parser = SSEParser()
            chunks = response.chunks()
            async for piece in chunks:
                told = False
                for sse in parser.feed(piece):
                    for event in reader.chunk(sse.data):
                        yield event
                        told = True
                if told:
                    yield FLUSH
                if reader.done:
                    break
            if not reader.done:
                for sse in parser.close():
                    for event in reader.chunk(sse.data):
                        yield event
            await drain(chunks)
            for event in reader.end():
                yield event
        finally:
            await cleanup.complete(response.close())  # even while the request is being cancelled
