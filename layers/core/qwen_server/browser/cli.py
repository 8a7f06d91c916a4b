"""`qwen-server login [--account NAME] [--timeout S]`: sign accounts in with a headless Chromium and keep
their sessions in the accounts file.

Exit status: 0 when every account was signed in, 1 when one failed, 2 when there is nothing to do it with
(no Chromium: the message says what to install; no writable accounts file; no account with a password).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qwen-server login",
        description="Sign web accounts in with the system's Chromium (headless) and save their sessions.",
    )
    p.add_argument("--account", action="append", default=[], help="only this account (name or id); repeatable")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds one sign-in may take")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from qwen_server.browser.accounts_file import NotWritable, write_session
    from qwen_server.browser.chromium import BrowserMissing, find_executable
    from qwen_server.browser.login import LoginFailed, capture_session
    from qwen_server.config import ConfigError, get_settings
    from qwen_server.pool.registry import AccountRegistry

    try:
        executable = find_executable()
    except BrowserMissing as exc:
        print(f"qwen-server login: {exc}")
        return 2
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}")
        return 2
    if settings.qwen_accounts:
        print("qwen-server login writes sessions into an accounts file; QWEN_ACCOUNTS (a variable) cannot be "
              "written: move the accounts to qwen_accounts.json or QWEN_ACCOUNTS_FILE")
        return 2
    registry = AccountRegistry(None, settings.qwen_accounts_file)
    path = Path(registry.source) if registry.source != "none" else None
    if registry.error or path is None:
        print(f"configuration error: accounts not loaded from {registry.error or 'any file'}")
        return 2
    accounts = registry.accounts()
    chosen = [
        (i, a)
        for i, a in enumerate(accounts)
        if a.kind == "qwen-web" and a.email and a.password and (not args.account or {a.name, a.id} & set(args.account))
    ]
    if not chosen:
        print("no web account with email and password to sign in (see README, accounts)")
        return 2
    failures = 0
    for position, account in chosen:
        try:
            captured = asyncio.run(capture_session(account, seconds=args.timeout, executable=executable))
            write_session(path, position, captured.cookie_header(), captured.user_agent)
        except (LoginFailed, NotWritable, RuntimeError, TimeoutError, OSError) as exc:
            failures += 1
            print(f"{account.name}: not signed in: {exc}")
            continue
        names = ", ".join(sorted(captured.cookies))
        print(f"{account.name}: signed in; session saved to {path.name} (cookies: {names})")
    return 1 if failures else 0
