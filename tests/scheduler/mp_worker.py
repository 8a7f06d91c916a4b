"""One process of the multi-process scheduler test (run as a script, not collected by pytest).

It waits for a shared start time, then makes `attempts` admissions with `concurrency` tasks, holding each
slot for a random short time, and appends one JSON line per event to its own log (line-buffered, so a
SIGKILL loses at most the line being written):
    {"ev": "enter", "id": n, "arrived": t0, "t": t}    after the slot is granted
    {"ev": "exit", "id": n, "t": t}                    before it is released
    {"ev": "result", "id": n, "outcome": "ok" | "queue_full" | "queue_timeout"}
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any

from qwen_server.core.errors import Overloaded
from qwen_server.scheduler import ClassLimits, FairScheduler, RequestClass
from qwen_server.store import open_store


async def run(cfg: dict[str, Any]) -> None:
    store = open_store(cfg["url"])
    await store.ping()
    limits: dict[RequestClass, ClassLimits] = {"chat": ClassLimits(cfg["cap"], cfg["queue"], cfg["timeout"])}
    sched = FairScheduler(
        store,
        limits,
        instance_id=cfg["instance"],
        lease_ttl=cfg["lease_ttl"],
        ticket_ttl=cfg["ticket_ttl"],
        poll_min=cfg["poll_min"],
        poll_max=cfg["poll_max"],
        stall_grace=cfg["stall_grace"],
    )
    rng = random.Random(cfg["seed"])
    lo, hi = cfg["hold"]
    slots = asyncio.Semaphore(cfg["concurrency"])
    with open(cfg["log"], "a", buffering=1) as log:  # noqa: ASYNC230 - a local log, line-buffered on purpose

        def write(**event: Any) -> None:
            log.write(json.dumps(event) + "\n")

        async def one(n: int) -> None:
            if n < cfg["concurrency"]:  # spread the first arrivals: a 64-way burst at one instant is noise
                await asyncio.sleep(n * 0.01)
            async with slots:
                arrived = time.time()
                try:
                    async with sched.admit("chat", "tenant"):
                        write(ev="enter", id=n, arrived=arrived, t=time.time())
                        await asyncio.sleep(rng.uniform(lo, hi))
                        write(ev="exit", id=n, t=time.time())
                    outcome = "ok"
                except Overloaded as exc:
                    outcome = str(exc.code)
                write(ev="result", id=n, outcome=outcome)

        # open the connections a burst will need now, so the first arrivals do not queue behind connects
        await asyncio.gather(*(store.lease_count("warm-up") for _ in range(cfg["concurrency"])))
        await asyncio.sleep(max(0.0, cfg["start_at"] - time.time()))
        await asyncio.gather(*(one(n) for n in range(cfg["attempts"])))
    await sched.aclose()
    await store.close()


if __name__ == "__main__":
    asyncio.run(run(json.loads(sys.argv[1])))
