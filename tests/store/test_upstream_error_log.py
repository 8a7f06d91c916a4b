"""The recent upstream errors of the admin page on every store backend: two instances share one bounded ring,
newest first, each note with its diagnosis and the doctor's advice. (That no credential reaches a note is
checked end to end, in tests/e2e/test_admin_page.py: the runtime's sanitiser knows the accounts.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qwen_server.core.errors import (
    InvalidRequest,
    UpstreamAuthError,
    UpstreamBlocked,
    UpstreamError,
    UpstreamForbidden,
    UpstreamModelNotFound,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from qwen_server.doctor.hints import hint
from qwen_server.doctor.upstream_errors import SLOTS, UpstreamErrorLog, diagnose
from qwen_server.providers.base import Account
from qwen_server.store import Store

ACCOUNT = Account("acc-1", "qwen-web", "https://chat.example", "alice", email="a@example.com", password="pw")


async def test_two_instances_share_one_ring_newest_first(new_store: Callable[[], Store]) -> None:
    first, second = new_store(), new_store()
    await first.ping()
    await second.ping()
    now = [1_800_000_000.0]
    one, other = UpstreamErrorLog(first, lambda: now[0]), UpstreamErrorLog(second, lambda: now[0])
    one.note(ACCOUNT, UpstreamBlocked("WAF page instead of an answer"))
    await one.flush()
    now[0] += 1
    other.note(ACCOUNT, UpstreamRateLimited("too many requests", retry_after=30))
    other.note(ACCOUNT, InvalidRequest("a client's bad request is not the upstream's"))
    notes = await other.recent()  # its own pending note is written first
    assert [n["diagnosis"] for n in notes] == ["rate_limit", "waf"]
    waf = notes[1]
    assert waf["account"] == "alice" and waf["account_id"] == "acc-1" and waf["status"] == 502
    assert waf["hint"] == hint("waf_page") and waf["doctor"] == "qwen-server doctor --account alice"
    assert waf["at"] == 1_800_000_000.0 and waf["code"] == "upstream_waf_challenge"
    for s in (first, second):
        await s.close()


async def test_the_ring_keeps_the_newest_notes_only(new_store: Callable[[], Store]) -> None:
    store = new_store()
    await store.ping()
    log = UpstreamErrorLog(store)
    for batch in range(3):  # three write rounds, more notes than the ring holds
        for i in range(25):
            log.note(ACCOUNT, UpstreamError(f"server error {batch * 25 + i}"))
        await log.flush()
    notes = await UpstreamErrorLog(store).recent()
    assert len(notes) == SLOTS
    assert [n["message"] for n in notes] == [f"server error {i}" for i in range(74, 74 - SLOTS, -1)]
    await store.close()


@pytest.mark.parametrize(
    ("error", "diagnosis", "advice"),
    [
        (UpstreamBlocked("x"), "waf", "waf_page"),
        (UpstreamRateLimited("x"), "rate_limit", "rate_limited"),
        (UpstreamAuthError("x"), "credential", "unauthorized"),
        (UpstreamForbidden("x"), "forbidden", "unauthorized"),
        (UpstreamModelNotFound("x"), "model", "model"),
        (UpstreamTimeout("x"), "timeout", "timeout"),
        (UpstreamError("x"), "server", "server"),
    ],
)
def test_each_upstream_error_gets_its_diagnosis_and_advice(
    error: UpstreamError, diagnosis: str, advice: str
) -> None:
    found = diagnose(error)
    assert (found.kind, found.hint_key) == (diagnosis, advice)

