"""The qwen-web provider: a fresh chat per request, one streaming completion, events parsed on the fly.

The chat is taken from the ready chats made ahead of need (`ready_chats`), so an answer costs one upstream call
before its first token; when none is ready, or the upstream refuses the one taken (deleted, or in use), one is
made on the spot. Once the answer has started, the stock of its (account, model, chat type) is filled again in
the background.

A 401 anywhere before the first event means the cached token is stale: sign in again once and retry; a
second 401 (or a 403) is `UpstreamForbidden`, which may be about the model or the request: `verify` asks the
auth endpoint whether the token itself is refused (`UpstreamAuthError`). A refused sign-in is
`UpstreamAuthError` at once. Chats are deleted afterwards in the background.

A refusal of the client `version` as too old (`outdated`) makes the provider read the version the web app
sends today from its own page (`client_version`, `version_discovery`) and retry the call once with it, in a
fresh chat; when nothing newer is found, or that is refused too, the client's error says what to set.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import orjson

from qwen_server.core import cleanup
from qwen_server.core.errors import (
    GatewayError,
    UpstreamAuthError,
    UpstreamBlocked,
    UpstreamClientOutdated,
    UpstreamError,
    UpstreamForbidden,
)
from qwen_server.core.model import FLUSH, ChatRequest, Event
from qwen_server.core.sse import SSEParser
from qwen_server.providers.base import Account, ModelInfo
from qwen_server.providers.http import ClientRegistry, drain
from qwen_server.providers.qwen_web import modes, outdated, protocol, waf, wire
from qwen_server.providers.qwen_web.auth import TokenManager
from qwen_server.providers.qwen_web.client_version import ClientVersions
from qwen_server.providers.qwen_web.headers import build_headers
from qwen_server.providers.qwen_web.jar import SessionJar
from qwen_server.providers.qwen_web.phases import PhaseParser
from qwen_server.providers.qwen_web.ready_chats import ReadyChats
from qwen_server.providers.qwen_web.turn_media import prepare_turn
from qwen_server.providers.qwen_web.upload import UploadCache, WebUploader
from qwen_server.providers.qwen_web.version_discovery import discover
from qwen_server.providers.transport import Streamed
from qwen_server.store.base import Store

DEFAULT_THINKING_BUDGET = 8192


class QwenWebProvider:
    native_tools = False  # the web API only speaks text: tools are prompted (Nous/Hermes) and parsed back

    def __init__(
        self,
        clients: ClientRegistry,
        tokens: TokenManager,
        *,
        user_agent: str | None = None,
        anti_bot: dict[str, str] | None = None,
        delete_chats: bool = True,
        jar: SessionJar | None = None,
        on_blocked: Callable[[Account], None] | None = None,
        large_text_threshold: int = 50_000,
        store: Store | None = None,
        code_mode: bool = False,
        ready_chats: int = 0,
        ready_chat_seconds: float = 300.0,
    ) -> None:
        self._clients = clients
        self._tokens = tokens
        self._jar = jar
        self._on_blocked = on_blocked  # e.g. a browser refresh of the session the WAF refused
        self._user_agent = user_agent
        self._anti_bot = anti_bot or {}
        self._delete_chats = delete_chats
        self._code_mode = code_mode  # SPECIAL_CODE_MODE: surface the code_interpreter phase
        self._background: set[asyncio.Task[None]] = set()
        self._large_text_threshold = large_text_threshold
        self.uploads = WebUploader(self._call_json, clients, cache=UploadCache(store=store))  # also the upload step of other web flows
        if store is None:
            from qwen_server.store.memory import MemoryStore

            store = MemoryStore()
        self.versions = ClientVersions(store)  # the `version` header per origin, learned when refused
        self.ready = ReadyChats(
            store, self._new_chat, self._delete_chat, depth=ready_chats, max_age=ready_chat_seconds
        )

    def _headers(
        self, account: Account, token: str, chat_id: str | None = None, stream: bool = False
    ) -> dict[str, str]:
        """The header set of one call: a browser session's cookies, bx-* headers and user agent win over
        the process-wide ones (they belong together). Cookies as last read (`_load_cookies` refreshes them)."""
        cookies = self._jar.peek(account) if self._jar else dict(account.cookies)
        return build_headers(
            account.base_url,
            token=token,
            chat_id=chat_id,
            stream=stream,
            user_agent=account.user_agent or self._user_agent,
            anti_bot={**self._anti_bot, **dict(account.headers)},
            cookies=cookies,
            version=self.versions.sending(account.base_url)[0],
        )

    async def _load_cookies(self, account: Account) -> None:
        """Bring this instance's copy of the account's cookies (and of its origin's learned client version) up
        to date (a store read when stale)."""
        if self._jar is not None:
            await self._jar.cookies(account)
        await self.versions.load(account.base_url)

    async def _relearn(self, account: Account, sent: tuple[str | None, str], refused: UpstreamClientOutdated) -> str:
        """The version to retry with after `refused`; raises the client's error when there is none."""
        if refused.final:
            raise refused
        outcome = await self.versions.relearn(account.base_url, sent[0], lambda: self._discover(account))
        if outcome.retry_with is None:
            raise outdated.refusal_error(sent[0], sent[1], outcome.finding, upstream=refused.upstream) from None
        return outcome.retry_with

    async def _discover(self, account: Account) -> outdated.Finding:
        """What the web app's own page at the account's base URL names as its version today."""
        token = await self._tokens.token(account, self._clients.get(account.base_url))
        return await discover(self._clients.get, account.base_url, self._headers(account, token))

    def _still_refused(self, account: Account, refused: UpstreamClientOutdated) -> UpstreamClientOutdated:
        """The client's error after a retry with the learned version was refused as well."""
        if refused.final:
            return refused
        sent, source = self.versions.sending(account.base_url)
        learned = self.versions.learned(account.base_url)
        finding = outdated.Finding(learned.version, learned.where) if learned else None
        return outdated.refusal_error(sent, source, finding, retried=True, upstream=refused.upstream)

    async def _absorb(self, account: Account, set_cookies: list[str]) -> None:
        if self._jar is not None and set_cookies:
            await self._jar.absorb(account, set_cookies)

    async def _call_json(
        self, account: Account, method: str, path: str, body: dict[str, Any] | None = None
    ) -> Any:
        """A JSON call with the one re-login the protocol allows after a 401, retried once with a newer client
        version after an old-client refusal."""
        await self.versions.load(account.base_url)
        sent = self.versions.sending(account.base_url)
        try:
            return await self._call_json_once(account, method, path, body)
        except UpstreamClientOutdated as refused:
            await self._relearn(account, sent, refused)
        try:
            return await self._call_json_once(account, method, path, body)
        except UpstreamClientOutdated as refused:
            raise self._still_refused(account, refused) from None

    async def _call_json_once(
        self, account: Account, method: str, path: str, body: dict[str, Any] | None = None
    ) -> Any:
        client = self._clients.get(account.base_url)
        for attempt in (0, 1):
            token = await self._tokens.token(account, client)
            await self._load_cookies(account)
            response = await client.fetch(
                method,
                account.base_url + path,
                content=orjson.dumps(body) if body is not None else None,
                headers=self._headers(account, token),
            )
            await self._absorb(account, response.set_cookies)
            blocked = waf.diagnose(response.status, response.headers, response.body)
            if blocked is not None:
                raise waf.blocked_error(blocked)
            if response.status == 401 and attempt == 0:
                await self._tokens.invalidate(account, token)
                continue
            if response.status >= 400:
                raise wire.classify_response(response.status, response.body, response.headers)
            try:
                payload = orjson.loads(response.body)
            except orjson.JSONDecodeError:
                raise wire.classify_response(response.status, response.body, response.headers) from None
            if isinstance(payload, dict):
                error = wire.stream_error(payload)
                if error is not None:
                    raise error
            return payload
        raise UpstreamForbidden(f"account {account.name}: refused (HTTP 401) after a fresh sign-in")

    async def list_models(self, account: Account) -> list[ModelInfo]:
        payload = await self._call_json(account, "GET", protocol.current().path("models"))
        items = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise UpstreamError("qwen upstream listed its models without a `data` list")
        models: list[ModelInfo] = []
        for item in items:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            info = item.get("info")
            meta = info.get("meta") if isinstance(info, dict) else None
            meta = meta if isinstance(meta, dict) else {}
            caps = meta.get("capabilities")
            length = meta.get("max_context_length")
            models.append(
                ModelInfo(
                    id=str(item["id"]),
                    owned_by=str(item.get("owned_by") or "qwen"),
                    created=_whole(item.get("created")),
                    capabilities=tuple(sorted(str(k) for k, v in caps.items() if v))
                    if isinstance(caps, dict)
                    else (),
                    max_context_length=length if isinstance(length, int) else None,
                )
            )
        return models

    async def verify(self, account: Account) -> None:
        """`GET /api/v1/auths/` answers the current user while the token is valid; a refusal after the one
        re-login (or a refused sign-in) condemns the credential."""
        try:
            await self._call_json(account, "GET", protocol.current().path("whoami"))
        except UpstreamForbidden as exc:
            raise UpstreamAuthError(
                f"account {account.name}: the auth endpoint refused the token after a fresh sign-in "
                f"({exc.message})"
            ) from None

    async def _new_chat(self, account: Account, model: str, chat_type: str = "t2t") -> str:
        payload = await self._call_json(
            account, "POST", protocol.current().path("new_chat"), wire.new_chat_body(model, chat_type)
        )
        chat_id = (payload.get("data") or {}).get("id") if isinstance(payload, dict) else None
        if not chat_id:
            raise UpstreamError("qwen upstream created no chat")
        return str(chat_id)

    async def stream(self, request: ChatRequest, account: Account) -> AsyncIterator[Event]:
        """One turn; refused as too old before any event, once more in a fresh chat with the learned version."""
        await self.versions.load(account.base_url)
        sent = self.versions.sending(account.base_url)
        started = False
        try:
            # aclosing: the turn's cleanup (response close, chat deletion) runs when our caller closes us
            async with aclosing(self._turn(request, account)) as turn:
                async for event in turn:
                    started = True
                    yield event
            return
        except UpstreamClientOutdated as refused:
            if started:  # text was already passed on: nothing to retry
                if refused.final:
                    raise
                raise outdated.refusal_error(*sent, None, upstream=refused.upstream) from None
            await self._relearn(account, sent, refused)
        try:
            async with aclosing(self._turn(request, account)) as turn:
                async for event in turn:
                    yield event
        except UpstreamClientOutdated as refused:
            raise self._still_refused(account, refused) from None

    async def _turn(self, request: ChatRequest, account: Account) -> AsyncGenerator[Event, None]:
        model, chat_type = request.model, modes.chat_type_of(request)
        chat_id = await self.ready.take(account, model, chat_type)
        ready = chat_id is not None
        started = False
        try:
            while True:
                if chat_id is None:
                    chat_id = await self._new_chat(account, model, chat_type)
                try:
                    async for event in self._complete(request, account, chat_id, ready=ready):
                        if not started:  # the answer is on its way: make the next one's chat meanwhile
                            started = True
                            self.ready.refill(account, model, chat_type)
                        yield event
                    return
                except _ReadyChatRefused:
                    chat_id, ready = None, False  # gone upstream, or in use: not ours to delete
        except UpstreamBlocked:
            self._blocked(account)
            raise
        finally:
            if self._delete_chats and chat_id is not None:
                self._spawn_delete(account, chat_id)

    async def _complete(
        self, request: ChatRequest, account: Account, chat_id: str, *, ready: bool = False
    ) -> AsyncIterator[Event]:
        """The completion in `chat_id`; a `ready` chat the upstream refuses raises `_ReadyChatRefused`."""
        client = self._clients.get(account.base_url)
        content, files = await prepare_turn(
            self.uploads, account, request, large_text_threshold=self._large_text_threshold
        )
        fields = wire.completion_body(
            chat_id=chat_id,
            model=request.model,
            content=content,
            thinking=request.thinking,
            thinking_budget=(request.thinking_budget or DEFAULT_THINKING_BUDGET)
            if request.thinking
            else None,
            files=files,
        )
        body = orjson.dumps(modes.apply_mode(fields, modes.chat_type_of(request)))
        watching = not outdated.is_refusal(content)  # a prompt quoting the refusal may get it as its answer
        url = f"{account.base_url}{protocol.current().path('completions')}?chat_id={chat_id}"
        for attempt in (0, 1):
            token = await self._tokens.token(account, client)
            await self._load_cookies(account)
            headers = self._headers(account, token, chat_id, stream=True)
            response = await client.open("POST", url, content=body, headers=headers)
            try:
                if "set-cookie" in response.headers:
                    await self._absorb(account, [response.headers["set-cookie"]])
                if response.status == 401 and attempt == 0:
                    await self._tokens.invalidate(account, token)
                    continue
                if response.status >= 400 or "event-stream" not in response.headers.get("content-type", ""):
                    raw = await response.read()
                    blocked = waf.diagnose(response.status, response.headers, raw)
                    if blocked is not None:
                        raise waf.blocked_error(blocked)
                    if ready and wire.chat_refused(raw):
                        raise _ReadyChatRefused()
                    if response.status < 400:
                        # HTTP 200 with a JSON body where a stream was due: an error in disguise (raised
                        # by the parser), or a moderation refusal (a `content_filter` finish).
                        refusal = _events_of(raw.decode("utf-8", errors="replace"), self._state(request, watching))
                        if not refusal:
                            raise UpstreamError("qwen upstream answered without a stream")
                        for event in refusal:
                            yield event
                        return
                    raise wire.classify_response(response.status, raw, response.headers)
                async for event in self._events(response, self._state(request, watching)):
                    yield event
                return
            finally:
                await cleanup.complete(response.close())  # even while the request is being cancelled
        raise UpstreamForbidden(f"account {account.name}: refused (HTTP 401) after a fresh sign-in")

    def _state(self, request: ChatRequest, watching: bool) -> wire.StreamState:
        deep = modes.chat_type_of(request) == "deep_research"
        phases = PhaseParser(code_mode=self._code_mode, progress_as_thinking=deep)
        return wire.StreamState(phases=phases, watch=outdated.AnswerWatch(enabled=watching))

    async def _events(self, response: Streamed, state: wire.StreamState) -> AsyncIterator[Event]:
        parser = SSEParser()
        chunks = response.chunks()
        async for piece in chunks:
            told = False
            for sse in parser.feed(piece):
                for event in _events_of(sse.data, state):
                    yield event
                    told = True
            if told:
                yield FLUSH
            if state.answer_finished:
                break
        else:
            for sse in parser.close():
                for event in _events_of(sse.data, state):
                    yield event
            if not state.answer_finished:
                state.watch.finish()  # the refusal held back as the answer's start raises here
                # a body that ended without the answer's `finished` (garbage from a proxy, a cut stream)
                raise UpstreamError("qwen upstream's stream ended before its answer finished")
        await drain(chunks)
        for event in state.phases.finish():  # a marker held back when the stream ended without `finished`
            yield event
        if state.usage is not None:
            yield state.usage

    def _blocked(self, account: Account) -> None:
        if self._on_blocked is not None:
            self._on_blocked(account)

    def _spawn_delete(self, account: Account, chat_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._delete_chat(account, chat_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _delete_chat(self, account: Account, chat_id: str) -> None:
        try:
            await self._call_json(account, "DELETE", protocol.current().path("chat", chat_id=chat_id))
        except GatewayError:
            return  # a leftover chat costs nothing but clutter; never fail a finished request over it


class _ReadyChatRefused(Exception):
    """The upstream refused a chat made ahead of need (deleted meanwhile, or in use): make a fresh one."""


def _events_of(data: str, state: wire.StreamState) -> list[Event]:
    """Events of one `data:` line; lines that are not JSON objects are skipped, as the web app does."""
    data = data.strip()
    if not data or data == "[DONE]" or state.answer_finished:
        return []
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return []
    return wire.parse_event(payload, state) if isinstance(payload, dict) else []


def _whole(value: Any) -> int:
    """A number from a listing field, 0 when it is missing or not a number."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
