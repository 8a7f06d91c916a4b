"""The doctor's output: a table for people, JSON for scripts. Neither ever holds a secret."""

from __future__ import annotations

from typing import Any

import orjson

from qwen_server.doctor.observe import FAILED, StepResult
from qwen_server.providers.base import Account
from qwen_server.providers.qwen_web import protocol
from qwen_server.providers.qwen_web.client_version import Learned, choose, version_key

COLUMNS = (("step", 22), ("result", 9), ("HTTP", 5), ("x-actual", 8), ("time", 7))


def protocol_in_force(anti_bot: dict[str, str], learned: dict[str, Learned] | None = None) -> dict[str, Any]:
    spec = protocol.current()
    return {
        "version_header": spec.version,
        "version_source": spec.version_source,
        "learned_versions": {
            key.split(":", 2)[-1]: {"version": v.version, "refused": v.refused, "where": v.where, "at": v.at}
            for key, v in (learned or {}).items()
        },
        "paths": dict(spec.data["paths"]),
        "completion_fields": spec.section("completion"),
        "user_agent": spec.user_agent,
        "overridden": list(spec.overridden),
        "anti_bot_headers": sorted(name for name, value in anti_bot.items() if value),
    }


def account_summary(
    account: Account, pool: dict[str, str] | None = None, learned: dict[str, Learned] | None = None
) -> dict[str, Any]:
    """By name only: which cookies and headers a session carries, never their values; the pool's current
    state of the account (from the shared store), when it could be read; the client version sent to it."""
    sent, source = choose((learned or {}).get(version_key(account.base_url)))
    return {
        "pool": pool,
        "client_version": {"sent": sent, "source": source} if account.kind == "qwen-web" else None,
        **account.public(),
        "credential": "password" if account.password else "token" if account.token else "api key",
        "session_cookies": sorted(name for name, _ in account.cookies),
        "session_headers": sorted(name for name, _ in account.headers),
        "user_agent": "session" if account.user_agent else "default",
    }


def as_json(
    results: list[StepResult],
    accounts: list[Account],
    anti_bot: dict[str, str],
    pool: dict[str, dict[str, str]] | None = None,
    learned: dict[str, Learned] | None = None,
) -> str:
    document = {
        "ok": not any(r.state == FAILED for r in results),
        "protocol": protocol_in_force(anti_bot, learned),
        "accounts": [account_summary(a, (pool or {}).get(a.id), learned) for a in accounts],
        "steps": [r.as_dict() for r in results],
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


def _cell(value: object, width: int) -> str:
    text = "-" if value is None or value == "" else str(value)
    return text[:width].ljust(width)


def as_table(
    results: list[StepResult],
    accounts: list[Account],
    anti_bot: dict[str, str],
    pool: dict[str, dict[str, str]] | None = None,
    learned: dict[str, Learned] | None = None,
) -> str:
    info = protocol_in_force(anti_bot, learned)
    lines = [
        f"protocol in force: version header {info['version_header'] or '(none)'} ({info['version_source']}), "
        f"completions {info['paths']['completions']}, overrides: {', '.join(info['overridden']) or 'none'}, "
        f"anti-bot headers: {', '.join(info['anti_bot_headers']) or 'none'}",
    ]
    for account in accounts:
        summary = account_summary(account, None, learned)
        session = ", ".join(summary["session_cookies"] + summary["session_headers"]) or "none"
        lines.append("")
        lines.append(
            f"account {account.name} ({account.kind}, {account.base_url}; {summary['credential']}; "
            f"session: {session}; user agent: {summary['user_agent']})"
        )
        client = summary["client_version"]
        found = (learned or {}).get(version_key(account.base_url))
        if client is not None and found is not None:
            lines.append(
                f"  client version: {client['sent']} ({client['source']}); the gateway learned {found.version} "
                f"from the web app's page ({found.where}) after {found.refused or '(none)'} was refused"
            )
        view = (pool or {}).get(account.id)
        if view is not None:
            reason = f" ({view['reason']})" if view["reason"] else ""
            lines.append(f"  the gateway's pool: {view['state']}{reason}")
        lines.append("  " + " ".join(_cell(name, width) for name, width in COLUMNS) + " what came back")
        for r in (r for r in results if r.account == account.name):
            seconds = f"{r.seconds:.2f}s" if r.seconds is not None else None
            row = (r.step, r.state, r.http, r.actual, seconds)
            cells = " ".join(_cell(v, w) for v, (_, w) in zip(row, COLUMNS, strict=True))
            lines.append(f"  {cells} {r.outcome}")
            if r.hint:
                lines.append(f"  {'':22} -> try: {r.hint}")
    failed = sum(r.state == FAILED for r in results)
    lines.append("")
    lines.append(f"{failed} step(s) failed" if failed else "every step that was tried passed")
    return "\n".join(lines)
