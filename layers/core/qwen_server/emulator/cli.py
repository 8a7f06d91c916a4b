"""`qwen-server emulator ...` / `python -m qwen_server.emulator ...`: parse flags, run uvicorn."""

from __future__ import annotations

import argparse
import json
import socket
from typing import Any

from qwen_server.emulator.config import EmulatorConfig
from qwen_server.emulator.knobs import Knobs, parse_knob_fields


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate must be within 0..1, got {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seconds must be >= 0, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _version(text: str) -> str:
    from qwen_server.emulator.version_gate import parts

    if parts(text) is None:
        raise argparse.ArgumentTypeError(f"a version is dotted numbers such as 0.2.66, got {text}")
    return text


def _account_knobs(text: str) -> dict[str, dict[str, Any]]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--account-knobs is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise argparse.ArgumentTypeError('--account-knobs must look like {"1": {"fail_500": 1.0}}')
    try:
        for fields in raw.values():
            parse_knob_fields(fields)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return raw


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qwen-server emulator", description="Emulate the Qwen Chat web API.")
    p.add_argument("--host", default="127.0.0.1")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int)
    where.add_argument(
        "--fd", type=int, help="serve on this inherited listening socket (a parent that bound it has no port race)"
    )
    p.add_argument("--accounts", type=_count, default=3, help="accounts user{i}@emulator.local / password{i}")
    p.add_argument("--seed", type=int, default=None, help="seed for fault draws (and stable token secret)")
    p.add_argument("--first-token-latency", type=_seconds, default=0.0, metavar="S")
    p.add_argument("--token-latency", type=_seconds, default=0.0, metavar="S")
    p.add_argument("--fail-500", type=_rate, default=0.0, metavar="RATE")
    p.add_argument("--fail-429", type=_rate, default=0.0, metavar="RATE")
    p.add_argument("--fail-401", type=_rate, default=0.0, metavar="RATE", help="token expiry (revokes it)")
    p.add_argument("--drop", type=_rate, default=0.0, metavar="RATE", help="close the connection mid-stream")
    p.add_argument("--hang", type=_rate, default=0.0, metavar="RATE", help="accept and never answer")
    p.add_argument("--retry-after", type=_seconds, default=30.0, metavar="S", help="Retry-After of 429s")
    p.add_argument("--rtt", type=_seconds, default=0.0, metavar="S", help="emulated round trip of every call")
    p.add_argument("--account-knobs", type=_account_knobs, default={}, metavar="JSON")
    p.add_argument(
        "--signin-wall", type=int, default=None, metavar="N", help="WAF page past N sign-ins / 2 s"
    )
    p.add_argument("--image-quota", type=int, default=100, metavar="N", help="images per account per day")
    p.add_argument("--video-quota", type=int, default=20, metavar="N", help="videos per account per day")
    p.add_argument("--video-seconds", type=_seconds, default=2.0, metavar="S", help="how long a video takes")
    p.add_argument(
        "--protocol-overrides",
        default=None,
        metavar="JSON|FILE",
        help="patch the emulated protocol (paths, headers.version ...) as QWEN_PROTOCOL_OVERRIDES does",
    )
    p.add_argument(
        "--waf", default="off", choices=["off", "page", "captcha", "cookie"], help="bot protection mode"
    )
    p.add_argument(
        "--require-version",
        type=_version,
        default=None,
        metavar="V",
        help="refuse completions whose `version` header is older than V (the page and script carry V)",
    )
    p.add_argument(
        "--outdated-shape",
        default="json",
        choices=["json", "sse", "answer"],
        help="how the old-client refusal arrives: HTTP 200 JSON, an SSE error frame or the answer's text",
    )
    p.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    p.add_argument(
        "--max-message-chars", type=_count, default=100_000, metavar="N", help="longer messages: Bad_Request"
    )
    p.add_argument(
        "--oss-v1-only", action="store_true", help="refuse V4-signed uploads (clients fall back to V1)"
    )
    return p


def config_from_args(argv: list[str] | None = None) -> EmulatorConfig:
    args = build_parser().parse_args(argv)
    knobs = Knobs(
        first_token_latency=args.first_token_latency,
        token_latency=args.token_latency,
        fail_500=args.fail_500,
        fail_429=args.fail_429,
        fail_401=args.fail_401,
        drop=args.drop,
        hang=args.hang,
        retry_after=args.retry_after,
    )
    return EmulatorConfig(
        host=args.host,
        port=args.port if args.port is not None else 0,
        fd=args.fd,
        accounts=args.accounts,
        seed=args.seed,
        knobs=knobs,
        account_knobs=args.account_knobs,
        signin_wall=args.signin_wall,
        log_level=args.log_level,
        protocol_overrides=args.protocol_overrides,
        waf=args.waf,
        require_version=args.require_version,
        outdated_shape=args.outdated_shape,
        max_message_chars=args.max_message_chars,
        oss_v1_only=args.oss_v1_only,
        image_quota=args.image_quota,
        video_quota=args.video_quota,
        video_seconds=args.video_seconds,
        rtt=args.rtt,
    )


def main(argv: list[str] | None = None) -> None:
    config = config_from_args(argv)
    import uvicorn

    from qwen_server.emulator.app import build_app
    from qwen_server.providers.qwen_web.protocol import ProtocolError, load

    try:
        load(config.protocol_overrides, "--protocol-overrides")
    except ProtocolError as exc:
        raise SystemExit(f"qwen-server emulator: {exc}") from None
    try:
        app = build_app(config)
    except KeyError as exc:  # --account-knobs names an account that does not exist
        raise SystemExit(f"qwen-server emulator: {exc.args[0]}") from None

    settings = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=config.log_level == "debug",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )
    # an inherited socket is taken as it is (family detected from it), not as uvicorn's `fd` takes it (Unix)
    sockets = [socket.socket(fileno=config.fd)] if config.fd is not None else None
    uvicorn.Server(settings).run(sockets=sockets)
