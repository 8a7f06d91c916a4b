"""The gateway beside the floor and a peer, in one run: direct to a fast fake upstream, a no-logic pass-through
proxy, the gateway, and LiteLLM's proxy when installed; then the gateway at 1 and at N workers; with `--redis`,
the Redis store's round trips per request.

    python bench/proxy_compare.py [--clients 32] [--requests 1500] [--latency-requests 300] [--chunks 20]
        [--workers N] [--with-litellm] [--redis] [--redis-requests 200]

Throughput: `clients` concurrent aiohttp callers share `requests` chat calls, non-stream and stream (every
answer read to its end). Added latency: `latency-requests` sequential non-stream calls after a warm-up, p50 and
p99 minus the direct path's. Everything runs on this machine, the load generator included, so every path
shares the same cores: the figures compare paths, they are not capacity numbers for a dedicated host.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository: `tests` is a package

import litellm_proxy  # noqa: E402
from loadgen import DEFAULT_KEY, Latency, Throughput, latency, throughput  # noqa: E402

from tests.processes import Service, _spawn, free_port, start_gateway, wait_http  # noqa: E402


@dataclass
class Row:
    name: str
    non_stream: Throughput
    stream: Throughput
    latency: Latency


def start_script(script: str, *args: str, health: str = "/health") -> Service:
    """A bench/ helper server as its own process on a free port."""
    port = free_port()
    process, log = _spawn([sys.executable, str(HERE / script), "--port", str(port), *args], {}, script)
    service = Service(process, port, log)
    try:
        wait_http(f"{service.url}{health}", process)
    except RuntimeError:
        service.stop()
        raise
    return service


def gateway(upstream: Service, workers: int, store_url: str) -> Service:
    """The gateway with one `openai`-kind account on the fake upstream, capacity never the limit."""
    account = {"kind": "openai", "base_url": f"{upstream.url}/v1", "api_key": "k", "max_concurrent": 4096}
    env = {
        "STORE_URL": store_url,
        "SCHED_CHAT_CONCURRENT": "4096",
        "SCHED_CHAT_QUEUE": "8192",
        "UPSTREAM_FIRST_BYTE_TIMEOUT": "30",
    }
    return start_gateway(env, accounts=[account], workers=workers)


def measure(name: str, base_url: str, args: argparse.Namespace, key: str = DEFAULT_KEY) -> Row:
    url = f"{base_url}/v1/chat/completions"
    print(f"  {name} ...", flush=True)
    return Row(
        name,
        throughput(url, False, args.clients, args.requests, key),
        throughput(url, True, args.clients, args.requests, key),
        latency(url, args.latency_requests, key=key),
    )


def print_paths(rows: list[Row], args: argparse.Namespace) -> None:
    direct = rows[0]
    by_name = {row.name: row for row in rows}
    print(
        f"\nSame fast upstream; {args.clients} clients x {args.requests} requests per cell; "
        f"stream = {args.chunks} chunks; c=1 latency over {args.latency_requests} sequential requests"
    )
    header = (
        f"{'path':26} {'non-stream req/s':>16} {'stream req/s':>12} {'c=1 p50 ms':>10} {'p99 ms':>7}"
        f" {'added p50 / p99 ms':>18} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        added = (
            "-"
            if row is direct
            else f"{row.latency.p50_ms - direct.latency.p50_ms:.2f} / {row.latency.p99_ms - direct.latency.p99_ms:.2f}"
        )
        print(
            f"{row.name:26} {row.non_stream.rps:16,.0f} {row.stream.rps:12,.0f} {row.latency.p50_ms:10.2f}"
            f" {row.latency.p99_ms:7.2f} {added:>18} {row.non_stream.errors + row.stream.errors:6}"
        )
    gw = by_name["gateway (1 worker, memory)"]
    for other in ("pass-through proxy", "LiteLLM (1 worker)"):
        if other in by_name:
            peer = by_name[other]
            print(
                f"gateway / {other}: non-stream {gw.non_stream.rps / peer.non_stream.rps:.2f}x,"
                f" stream {gw.stream.rps / peer.stream.rps:.2f}x"
            )


def print_workers(rows: list[tuple[str, Throughput, Throughput]]) -> None:
    print("\nGateway throughput by worker processes (same load)")
    header = f"{'gateway':34} {'non-stream req/s':>16} {'stream req/s':>12} {'errors':>6}"
    print(header)
    print("-" * len(header))
    for name, non_stream, stream in rows:
        print(f"{name:34} {non_stream.rps:16,.0f} {stream.rps:12,.0f} {non_stream.errors + stream.errors:6}")


def compare_paths(upstream: Service, args: argparse.Namespace) -> list[Row]:
    rows = [measure("direct", upstream.url, args)]
    proxy = start_script("passthrough_proxy.py", "--upstream", upstream.url)
    try:
        rows.append(measure("pass-through proxy", proxy.url, args))
    finally:
        proxy.stop()
    gw = gateway(upstream, 1, "memory://")
    try:
        rows.append(measure("gateway (1 worker, memory)", gw.url, args))
    finally:
        gw.stop()
    skipped = litellm_proxy.ensure_installed(args.with_litellm)
    started = litellm_proxy.start(f"{upstream.url}/v1") if skipped is None else skipped
    if isinstance(started, str):
        print(f"  {started}")
    else:
        try:
            print(f"  LiteLLM {litellm_proxy.version()}", flush=True)
            rows.append(measure("LiteLLM (1 worker)", started.url, args, litellm_proxy.MASTER_KEY))
        finally:
            started.stop()
    return rows


def compare_workers(
    upstream: Service, args: argparse.Namespace, redis_url: str | None
) -> list[tuple[str, Throughput, Throughput]]:
    """The same load on 1 and on N workers, per shared store (SQLite; Redis too when one is running)."""
    stores = [("SQLite", "")] + ([("Redis", redis_url)] if redis_url else [])
    rows = []
    for store_name, store_url in stores:
        for workers in sorted({1, args.workers}):
            url_of_store = (
                store_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-store-'), 'state.db')}"
            )
            name = f"{workers} worker{'s' if workers > 1 else ''}, {store_name} store"
            print(f"  {name} ...", flush=True)
            gw = gateway(upstream, workers, url_of_store)
            url = f"{gw.url}/v1/chat/completions"
            try:
                non_stream = throughput(url, False, args.clients, args.requests)
                rows.append((name, non_stream, throughput(url, True, args.clients, args.requests)))
            finally:
                gw.stop()
    return rows


@contextmanager
def optional_redis(wanted: bool) -> Iterator[str | None]:
    """A throwaway redis-server's URL when wanted and installed, else None (with a printed note)."""
    from tests.services import redis_binary, redis_service

    if not wanted:
        yield None
    elif redis_binary() is None:
        print("  Redis rows skipped: redis-server is not installed")
        yield None
    else:
        with redis_service() as url:
            yield url


def count_redis_round_trips(upstream: Service, args: argparse.Namespace) -> None:
    import redis_round_trips

    from tests.services import redis_binary, start_redis, stop

    if redis_binary() is None:
        print("\nRedis round trips skipped: redis-server is not installed")
        return
    url, redis_process = start_redis()
    relay = redis_round_trips.CountingRelay("127.0.0.1", urlsplit(url).port or 6379)
    gw = gateway(upstream, 1, redis_round_trips.relay_url(url, relay))
    try:
        cost = redis_round_trips.count(url, relay, f"{gw.url}/v1/chat/completions", args.redis_requests)
    finally:
        gw.stop()
        relay.stop()
        stop(redis_process)
    print(
        f"\nRedis store, per uncontended non-stream request ({cost.requests} sequential requests, 1 worker):"
    )
    print(f"  round trips (client sends awaiting a reply): {cost.round_trips:.2f}  (target: at most 2)")
    print("  commands Redis ran (INFO commandstats; a script's own commands included):")
    for name, calls in cost.commands.items():
        print(f"    {name:16} {calls:6.2f}")
    print(f"    {'total':16} {sum(cost.commands.values()):6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--latency-requests", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="N for the workers table")
    parser.add_argument("--with-litellm", action="store_true", help="create .venv-litellm when missing")
    parser.add_argument(
        "--redis", action="store_true", help="Redis rows in the workers table; store round trips per request"
    )
    parser.add_argument("--redis-requests", type=int, default=200)
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()};"
        f" Python {platform.python_version()}; load generator, proxies and upstream all on it"
    )
    upstream = start_script("fast_upstream.py", "--chunks", str(args.chunks))
    try:
        rows = compare_paths(upstream, args)
        with optional_redis(args.redis) as redis_url:
            workers = compare_workers(upstream, args, redis_url)
        print_paths(rows, args)
        print_workers(workers)
        if args.redis:
            count_redis_round_trips(upstream, args)
    finally:
        upstream.stop()


if __name__ == "__main__":
    main()
