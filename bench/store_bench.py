"""Store backends on the scheduler's hot path: round trips and added latency per request.

python bench/store_bench.py [--n 400]

Starts its own redis-server and moto server (tests/services.py), then per backend:
- p50 of single store calls (get, set, incr),
- an uncontended admit + release through `FairScheduler` (the path every request takes), with the store
  calls it makes (a counting wrapper) and the network round trips behind them (Redis: packets sent by
  redis-py, one per command or pipeline; DynamoDB: API calls; SQLite: transactions on its thread),
- added latency: admit + release p50 minus the memory backend's.
Targets (issue 5): admit <= 2 round trips, release <= 1, Redis <= 1 ms added p50 over memory.
moto is an in-process Python emulator answering serially; its DynamoDB numbers show round-trip counts, not
DynamoDB latency.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository: `tests` is a package

from qwen_server.scheduler import ClassLimits, FairScheduler  # noqa: E402
from qwen_server.store import Store, open_store  # noqa: E402
from tests.services import moto_service, redis_binary, redis_service  # noqa: E402


class Counting:
    """Wraps a store and counts calls; `trips` counts network round trips via backend hooks."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls = 0
        self.trips = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name.startswith("_") or not callable(attr):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await attr(*args, **kwargs)

        return counted


def hook_round_trips(backend: str, store: Store, counter: Counting) -> Callable[[], None]:
    """Count what goes over the wire; returns an undo."""
    if backend == "redis":
        from redis.asyncio.connection import AbstractConnection

        original = AbstractConnection.send_packed_command

        async def send(self: Any, *args: Any, **kwargs: Any) -> None:
            counter.trips += 1
            await original(self, *args, **kwargs)

        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]

        def undo() -> None:
            AbstractConnection.send_packed_command = original  # type: ignore[method-assign]

        return undo
    if backend == "dynamodb":

        def on_call(**_: Any) -> None:
            counter.trips += 1

        client = cast(Any, store)._c
        client.meta.events.register("before-call.dynamodb", on_call)
        return lambda: client.meta.events.unregister("before-call.dynamodb", on_call)
    if backend == "sqlite":
        sqlite_store = cast(Any, store)
        original_run = sqlite_store._run

        async def run(fn: Any) -> Any:
            counter.trips += 1
            return await original_run(fn)

        sqlite_store._run = run
        return lambda: setattr(sqlite_store, "_run", original_run)
    return lambda: None


def ms(values: list[float], q: float = 0.5) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def timed(n: int, op: Callable[[int], Awaitable[Any]]) -> list[float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        await op(i)
        out.append(time.perf_counter() - started)
    return out


async def measure(backend: str, url: str, n: int) -> dict[str, Any]:
    store = open_store(url)
    await store.ping()
    counter = Counting(store)
    sched = FairScheduler(cast(Store, counter), {"chat": ClassLimits(64, 64, 10.0)}, instance_id="bench")
    row: dict[str, Any] = {"backend": backend}
    await store.set("k", b"v" * 64)
    row["get"] = ms(await timed(n, lambda i: store.get("k")))
    row["set"] = ms(await timed(n, lambda i: store.set(f"k{i % 16}", b"v" * 64, ttl=60)))
    row["incr"] = ms(await timed(n, lambda i: store.incr("ctr")))

    admits: list[float] = []
    releases: list[float] = []
    per_admit: list[tuple[int, int]] = []
    per_release: list[tuple[int, int]] = []
    undo = hook_round_trips(backend, store, counter)
    try:
        for i in range(n + 20):  # the first 20 warm connections and scripts
            cm = sched.admit("chat", "bench")
            calls, trips = counter.calls, counter.trips
            started = time.perf_counter()
            await cm.__aenter__()
            entered = time.perf_counter()
            admit_cost = (counter.calls - calls, counter.trips - trips)
            calls, trips = counter.calls, counter.trips
            await cm.__aexit__(None, None, None)
            done = time.perf_counter()
            if i >= 20:
                admits.append(entered - started)
                releases.append(done - entered)
                per_admit.append(admit_cost)
                per_release.append((counter.calls - calls, counter.trips - trips))
    finally:
        undo()
    row["admit_p50"], row["admit_p95"] = ms(admits), ms(admits, 0.95)
    row["release_p50"] = ms(releases)
    row["both"] = [a + r for a, r in zip(admits, releases, strict=True)]
    row["admit_calls"] = statistics.mean(c for c, _ in per_admit)
    row["admit_trips"] = statistics.mean(t for _, t in per_admit)
    row["release_calls"] = statistics.mean(c for c, _ in per_release)
    row["release_trips"] = statistics.mean(t for _, t in per_release)
    await sched.aclose()
    await store.close()
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    base = ms(next(r for r in rows if r["backend"] == "memory")["both"])
    head = (
        f"{'backend':<9} {'get':>7} {'set':>7} {'incr':>7} | {'admit p50':>9} {'p95':>7} {'release':>8} "
        f"| {'calls/admit':>11} {'RT/admit':>8} {'calls/rel':>9} {'RT/rel':>6} | {'added p50':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        trips_a = "-" if r["backend"] == "memory" else f"{r['admit_trips']:.2f}"
        trips_r = "-" if r["backend"] == "memory" else f"{r['release_trips']:.2f}"
        added = ms(r["both"]) - base
        print(
            f"{r['backend']:<9} {r['get']:>7.3f} {r['set']:>7.3f} {r['incr']:>7.3f} | {r['admit_p50']:>9.3f} "
            f"{r['admit_p95']:>7.3f} {r['release_p50']:>8.3f} | {r['admit_calls']:>11.2f} {trips_a:>8} "
            f"{r['release_calls']:>9.2f} {trips_r:>6} | {added:>9.3f}"
        )
    print("times in ms; RT = network round trips (Redis sends, DynamoDB API calls, SQLite transactions)")
    print(
        "DynamoDB's admit runs its slot Query and queue Query in parallel: 3 calls, 2 sequential round trips"
    )


async def run(n: int, urls: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for backend, url in urls.items():
        count = n if backend != "dynamodb" else max(50, n // 4)
        rows.append(await measure(backend, url, count))
        print(f"  measured {backend} ({count} requests)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=400, help="requests per backend (DynamoDB: a quarter)")
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        urls = {"memory": "memory://", "sqlite": f"sqlite:///{tmp}/bench.db"}
        if redis_binary() is not None:
            urls["redis"] = stack.enter_context(redis_service()) + f"?prefix=bench{uuid.uuid4().hex[:6]}:"
        else:
            print("redis-server not installed: Redis skipped")
        endpoint = stack.enter_context(moto_service())
        urls["dynamodb"] = f"dynamodb://bench?region=us-east-1&endpoint_url={endpoint}&create=1"
        rows = asyncio.run(run(args.n, urls))
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
