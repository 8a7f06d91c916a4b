"""`qwen-server worker`: the batch worker as its own process, sharing the store with the servers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from qwen_server.workers import LOG_FORMAT


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="qwen-server worker", description="Process batches from the shared store until stopped."
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    from qwen_server.config import ConfigError, get_settings
    from qwen_server.config_check import check_settings

    try:
        settings = get_settings()
        check_settings(settings)
    except ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    from qwen_server.cli import _check_store

    _check_store(settings.resolved_store_url())  # a store that cannot be used stops here, naming STORE_URL
    asyncio.run(_run())


async def _run() -> None:
    from qwen_server.batches.worker import run_forever

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger("qwen_server").info("batch worker started")
    await run_forever(stop)
