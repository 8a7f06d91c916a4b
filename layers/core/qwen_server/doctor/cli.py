"""`qwen-server doctor [--json] [--account NAME] [--model M] [--media t2i,t2v,tts] [--skip STEP]`.

Exit status: 0 when every step tried passed, 1 when one failed, 2 when the configuration cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from qwen_server.doctor.steps import MEDIA_STEPS, STEP_NAMES


def _names(text: str, known: tuple[str, ...], flag: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    if "all" in names:
        return frozenset(known)
    unknown = names - set(known)
    if unknown:
        raise argparse.ArgumentTypeError(f"{flag}: unknown {', '.join(sorted(unknown))} (known: {', '.join(known)})")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qwen-server doctor",
        description="Run every protocol step the gateway uses against each configured account.",
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--account", action="append", default=[], help="only this account (name or id); repeatable")
    p.add_argument("--model", default=None, help="the model to try (default: the account's first, or DEFAULT_MODEL)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds each call may take")
    p.add_argument(
        "--media",
        default="",
        type=lambda t: _names(t, MEDIA_STEPS, "--media"),
        help=f"media flows to try, comma-separated ({', '.join(MEDIA_STEPS)} or all); they spend quota",
    )
    p.add_argument(
        "--skip",
        default="",
        type=lambda t: _names(t, STEP_NAMES, "--skip"),
        help="steps not to try, comma-separated",
    )
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from qwen_server.config import ConfigError, get_settings
    from qwen_server.doctor import report
    from qwen_server.doctor.runner import Options, any_failed, run
    from qwen_server.pool.registry import AccountRegistry
    from qwen_server.providers.qwen_web import protocol

    try:
        settings = get_settings()
        protocol.load_from_env()
    except (ConfigError, protocol.ProtocolError) as exc:
        print(f"configuration error: {exc}")
        return 2
    registry = AccountRegistry(settings.qwen_accounts, settings.qwen_accounts_file)
    if registry.error:
        print(f"configuration error: accounts not loaded from {registry.error}")
        return 2
    accounts = registry.accounts()
    if args.account:
        wanted = set(args.account)
        accounts = [a for a in accounts if a.name in wanted or a.id in wanted]
    if not accounts:
        print("no accounts to check: configure QWEN_ACCOUNTS or an accounts file (see README, accounts)")
        return 2
    anti_bot = {
        "bx-v": settings.qwen_bx_v or "",
        "bx-ua": settings.qwen_bx_ua or "",
        "bx-umidtoken": settings.qwen_bx_umidtoken or "",
    }
    options = Options(
        default_model=settings.default_model,
        model=args.model,
        timeout=args.timeout,
        media=args.media,
        skip=args.skip,
        anti_bot=anti_bot,
        user_agent=settings.qwen_user_agent,
    )
    from dataclasses import replace

    from qwen_server.doctor.pool_view import pool_states

    pool, learned = pool_states(settings.resolved_store_url(), accounts)
    options = replace(options, learned=learned)
    results = asyncio.run(run(accounts, options))
    render = report.as_json if args.json else report.as_table
    print(render(results, accounts, anti_bot, pool, learned))
    return 1 if any_failed(results) else 0
