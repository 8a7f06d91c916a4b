"""Running the steps against each account, in order, and scrubbing every secret out of what they say."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from qwen_server.core.errors import GatewayError
from qwen_server.doctor.context import Context
from qwen_server.doctor.observe import FAILED, NOT_TRIED, OK, Failure, StepResult, failed
from qwen_server.doctor.steps import STEPS, Step
from qwen_server.providers.base import Account
from qwen_server.providers.qwen_web import outdated
from qwen_server.providers.qwen_web.client_version import Learned, choose, version_key
from qwen_server.providers.qwen_web.version_discovery import discover

log = logging.getLogger("qwen_server.doctor")


@dataclass(frozen=True)
class Options:
    default_model: str = "qwen3-max"
    model: str | None = None
    timeout: float = 30.0
    media: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()
    anti_bot: dict[str, str] = field(default_factory=dict)
    user_agent: str | None = None
    learned: dict[str, Learned] = field(default_factory=dict)  # client versions the gateway learned, by origin


def secrets_of(account: Account, ctx: Context | None = None) -> list[str]:
    """Every value of the account that must never be printed."""
    values = [account.password, account.token, account.api_key]
    values += [v for _, v in account.cookies] + [v for _, v in account.headers]
    if ctx is not None:
        values += [ctx.token, *ctx.cookies.values()]
    return [v for v in values if v and len(v) >= 4]


def scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def _not_tried(step: Step, ctx: Context, options: Options, blocked: set[str]) -> str | None:
    if step.name in options.skip:
        return "skipped by --skip"
    if step.media and step.name not in options.media:
        return f"spends the account's media quota: pass --media {step.name} to try it"
    reason = step.applies(ctx)
    if reason:
        return reason
    failed_need = next((n for n in step.needs if n in blocked), None)
    return f"needs {failed_need}, which did not pass" if failed_need else None


async def run_account(account: Account, ctx: Context, options: Options) -> list[StepResult]:
    results: list[StepResult] = []
    blocked: set[str] = set()
    for step in STEPS:
        if account.kind not in step.kinds:
            continue
        reason = _not_tried(step, ctx, options, blocked)
        if reason:
            if "did not pass" in reason:
                blocked.add(step.name)
            results.append(StepResult(account.name, step.name, NOT_TRIED, outcome=reason))
            continue
        started = time.monotonic()
        try:
            outcome = await step.run(ctx)
        except Failure as failure:
            if failure.http is None and ctx.last[0] is not None:
                failure.http, failure.actual = ctx.last
            if failure.kind == "client_outdated":
                failure.advice = await version_advice(ctx)
            blocked.add(step.name)
            results.append(failed(account.name, step.name, failure, time.monotonic() - started))
            continue
        status, actual = ctx.last
        results.append(
            StepResult(account.name, step.name, OK, status, actual, outcome, time.monotonic() - started)
        )
    await _delete_chats(ctx)
    secrets = secrets_of(account, ctx)
    for result in results:
        result.outcome = scrub(result.outcome, secrets)
        result.hint = scrub(result.hint, secrets)
    return results


async def version_advice(ctx: Context) -> str:
    """The gateway's diagnosis of an old-client refusal, with the exact override to paste: what the web app's
    own page names today (read once per account, as the gateway reads it)."""
    if ctx.finding is None:
        ctx.finding = await discover(lambda url: ctx.client, ctx.account.base_url, ctx.headers())
    return f"{outdated.DIAGNOSIS}: " + outdated.advice(ctx.version, ctx.version_source, ctx.finding)


async def _delete_chats(ctx: Context) -> None:
    """The chats the steps created go, as the gateway's own do; a leftover costs only clutter."""
    for chat_id in ctx.chats:
        try:
            await ctx.call("DELETE", ctx.path("chat", chat_id=chat_id))
        except (Failure, GatewayError) as exc:
            log.debug("chat %s not deleted: %s", chat_id, exc)


async def run(accounts: list[Account], options: Options) -> list[StepResult]:
    from qwen_server.providers.http import ClientRegistry
    from qwen_server.providers.openai_compat import OpenAICompatProvider

    clients = ClientRegistry(connect_timeout=min(10.0, options.timeout), read_timeout=options.timeout)
    compat = OpenAICompatProvider(clients)
    results: list[StepResult] = []
    try:
        for account in accounts:
            model = options.model or (account.models[0] if account.models else options.default_model)
            version, source = choose(options.learned.get(version_key(account.base_url)))
            ctx = Context(
                account,
                clients.get(account.base_url),
                model,
                options.timeout,
                anti_bot=options.anti_bot,
                user_agent=options.user_agent,
                extra=compat,
                version=version,
                version_source=source,
            )
            results += await run_account(account, ctx, options)
    finally:
        await clients.aclose()
    return results


def any_failed(results: list[StepResult]) -> bool:
    return any(r.state == FAILED for r in results)
