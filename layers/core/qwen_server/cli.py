"""`qwen-server serve | worker | emulator | doctor | login`: the local all-in-one server, the batch worker as
its own process, and the way to the other commands. `serve` and `worker` share one configuration and store
check at start-up; the worker builds its own runtime and hands the batch services to the worker loop."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from contextlib import nullcontext
from pathlib import Path

from qwen_server.local_emulator import emulated_upstream, exit_on_sigterm
from qwen_server.workers import LOG_FORMAT, default_workers, worker_count, worker_log_config

DEFAULT_PORT = 1325


def _without_credentials(url: str) -> str:
    """The store URL for the log: no password, no query string."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def _check_store(url: str) -> None:
    """Fail at start-up, naming STORE_URL, rather than on the first request."""
    from qwen_server.store import open_store

    async def ping() -> None:
        store = open_store(url)
        try:
            await store.ping()
        finally:
            await store.close()

    try:
        asyncio.run(ping())
    except Exception as exc:  # any failure here is a configuration error to report, not a crash
        raise SystemExit(
            f"STORE_URL={_without_credentials(url)} cannot be used: {type(exc).__name__}: {exc}"
        ) from None


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="qwen-server serve", description="Serve every route in one process."
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    parser.add_argument(
        "--emulate", action="store_true", help="start the built-in emulator and use it as upstream"
    )
    parser.add_argument("--emulator-accounts", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes on the one port, sharing the store (default: one per CPU; "
        "1 with STORE_URL=memory://)",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    log = logging.getLogger("qwen_server")

    exit_on_sigterm()
    # Several workers share state only through the store: the emulator's then gets a temporary SQLite file.
    private_store = args.workers == 1 or (args.workers is None and default_workers(os.cpu_count()) == 1)
    emulated = emulated_upstream(args.emulator_accounts, shared_store=not private_store)
    with emulated if args.emulate else nullcontext():
        _run(args, log)


def _run(args: argparse.Namespace, log: logging.Logger) -> None:
    """Check the configuration, then serve until stopped."""
    from qwen_server.app.config_check import check_settings
    from qwen_server.config import ConfigError, get_settings
    from qwen_server.observability.logging import apply_debug

    try:
        settings = get_settings()
        check_settings(settings)
    except ConfigError as exc:  # a message naming the variable, not a traceback
        raise SystemExit(f"configuration error: {exc}") from None
    apply_debug(settings.debug)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    os.environ["QWEN_SERVER_BIND_HOST"] = args.host  # the workers inherit it (app.exposure)
    if not settings.gateway_keys():
        from qwen_server.app.exposure import is_loopback

        if is_loopback(args.host) or settings.allow_anonymous:
            log.warning("GATEWAY_API_KEYS is not set: any API key is accepted (fine for local use only)")
        else:
            log.warning(
                "GATEWAY_API_KEYS is not set and %s is not a loopback address: every API request is "
                "refused with 401 until it is set (or ALLOW_ANONYMOUS=true)",
                args.host,
            )
    store_url = settings.resolved_store_url()
    try:
        workers, note = worker_count(args.workers, store_url, os.cpu_count())
    except ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    if note:
        log.info("%s", note)
    log.info("store: %s; worker processes: %d", _without_credentials(store_url), workers)
    _check_store(store_url)
    log.info(
        "serving on http://%s:%d (OpenAI base_url http://%s:%d/v1)",
        args.host,
        args.port,
        args.host,
        args.port,
    )

    import uvicorn

    uvicorn.run(
        "qwen_server.app.local:app",
        host=args.host,
        port=args.port,
        workers=workers,
        log_level=args.log_level,
        log_config=worker_log_config(args.log_level),
        access_log=False,
        # longer than any common client keeps an idle connection (httpx 5 s, aiohttp 15 s): at an equal
        # timeout the server may close a connection just as the client reuses it, a reset the caller sees
        timeout_keep_alive=75,
    )


def worker(argv: list[str]) -> None:
    """`qwen-server worker`: the batch worker as its own process, sharing the store with the servers."""
    parser = argparse.ArgumentParser(
        prog="qwen-server worker", description="Process batches from the shared store until stopped."
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    from qwen_server.app.config_check import check_settings
    from qwen_server.config import ConfigError, get_settings

    try:
        settings = get_settings()
        check_settings(settings)
    except ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    _check_store(settings.resolved_store_url())  # a store that cannot be used stops here, naming STORE_URL
    asyncio.run(_work_until_stopped())


async def _work_until_stopped() -> None:
    from qwen_server.app.runtime import RuntimeCell
    from qwen_server.batches.worker import run_forever

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger("qwen_server").info("batch worker started")
    await run_forever(stop, RuntimeCell().batches)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:
        from qwen_server import __version__

        print(f"qwen-server {__version__}")
        return
    if argv[:1] == ["--licenses"]:
        from qwen_server.notices import notices

        print(notices())
        return
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: qwen-server {serve,worker,emulator,doctor,login} [options] | --version | --licenses\n"
            "  serve     the gateway (all routes, port 1325)\n"
            "  worker    the batch worker alone (no HTTP)\n"
            "  emulator  the Qwen upstream emulator\n"
            "  doctor    try every protocol step against each account and say what broke\n"
            "  login     sign in with a headless Chromium and keep the session in the accounts file\n"
            "  --version   print the version\n"
            "  --licenses  print the licence notices of what this executable bundles"
        )
        return
    command, rest = argv[0], argv[1:]
    if command == "serve":
        serve(rest)
    elif command == "worker":
        worker(rest)
    elif command == "emulator":
        from qwen_server.emulator.cli import main as emulator_main

        emulator_main(rest)
    elif command == "doctor":
        from qwen_server.doctor.cli import main as doctor_main

        raise SystemExit(doctor_main(rest))
    elif command == "login":
        from qwen_server.browser.cli import main as login_main

        raise SystemExit(login_main(rest))
    else:
        raise SystemExit(f"unknown command {command!r}: use serve, worker, emulator, doctor or login")


if __name__ == "__main__":
    main()
