"""Account-selection policies on one simulated pool: discrete-event, simulated time, no HTTP.

Run: `python bench/pool_sim.py [--seeds 10] [--duration 1800]`.

The world: 10 accounts with their own success rate, TTFT, generation speed, concurrency cap (4) and a
requests-per-minute token bucket (429 with Retry-After when empty). One answers 429 in 50 ms nine times in ten
(no Retry-After); one is among the best until it degrades a third into the run (30 % success, slow 5xx) and
recovers at two thirds. Requests arrive as a Poisson stream; each may take up to 3 attempts, failing over to
an account not tried yet, within a retry budget (retries in flight at most 20 % of the requests in flight, minimum 3).

The policies see only outcomes. "thompson" is the real `AccountPool` over one `MemoryStore`, as 4 instances
(deciders) each with its own 1 s read cache, requests spread across them at random. The baselines are given
fresh global state (in-flight counts, latencies), which can only flatter them, the same hard concurrency cap,
and the first pool's cooldown rule: any retryable failure cools the account for its Retry-After, else 5 s.

Scoring. A failed attempt is charged its duration plus R = 2 s, so the cost of sending a request to account i,
if it were retried there until it succeeded, is c_i = T_i + (F_i + R)(1 - p_i)/p_i with T = TTFT + 100 / (tokens
per second) and the true p, TTFT and speed at that moment (p = 0 while the bucket is empty). The oracle knows
these and picks argmin c among accounts with a free slot; V* is that minimum. Choosing i costs (pseudo-)regret
p_i (c_i - V*) (or F_i + R when p_i = 0): the expected extra seconds against the oracle, so the oracle's first
attempts cost 0 and only its failovers (which must skip the best account) cost anything. A request refused
for want of an account while the oracle had one is charged R. "clairvoyant" knows every true p and latency but
not the rate-limit buckets (it honours Retry-After like everyone): the floor for any policy that, like the
real pool, learns of a rate limit only from a 429.
Arrivals and each account's random outcomes come from streams seeded per seed and per account, so every policy
faces the same traces.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "core"))

from qwen_server.core.errors import GatewayError, UpstreamError, UpstreamRateLimited
from qwen_server.pool.choice import Choice, Outcome
from qwen_server.pool.pool import AccountPool
from qwen_server.pool.retry_budget import RetryGate
from qwen_server.providers.base import Account
from qwen_server.store.memory import MemoryStore

MODEL = "qwen3-max"
PENALTY = 2.0  # R: seconds a failed attempt costs on top of its duration
REF_TOKENS = 100.0  # T = TTFT + REF_TOKENS / tokens-per-second
ANSWER_TOKENS = 300  # what each request generates: how long it holds its slot
MAX_ATTEMPTS = 3
CONCURRENCY = 4
DECIDERS = 4


# ---- the world ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Behaviour:
    p: float  # success probability when the bucket has a token
    ttft: float  # median seconds to first token
    tps: float  # tokens per second
    fail_time: float  # median seconds until a failure shows
    fail_kind: str = "5xx"  # 5xx | 429


@dataclass
class Spec:
    name: str
    normal: Behaviour
    rpm: float = 40.0  # token bucket: requests per minute, burst of the same size / 4
    degraded: Behaviour | None = None  # during the middle third


ACCOUNTS = [
    Spec("steady-a", Behaviour(0.97, 0.9, 45, 1.0)),
    Spec("steady-b", Behaviour(0.95, 1.1, 40, 1.0)),
    Spec("fast-flaky", Behaviour(0.75, 0.5, 60, 0.4)),
    Spec("degrader", Behaviour(0.98, 0.7, 55, 1.0), degraded=Behaviour(0.30, 2.5, 30, 3.0)),
    Spec("slow-sure", Behaviour(0.99, 2.5, 25, 1.5)),
    Spec("mid", Behaviour(0.90, 1.3, 35, 1.0)),
    Spec("fast-429", Behaviour(0.10, 0.4, 70, 0.05, fail_kind="429")),
    Spec("tight-limit", Behaviour(0.96, 0.8, 50, 1.0), rpm=10.0),
    Spec("mediocre", Behaviour(0.85, 1.8, 30, 1.0)),
    Spec("bad", Behaviour(0.50, 1.5, 30, 2.0)),
]


@dataclass
class AccountSim:
    spec: Spec
    rng: random.Random
    tokens: float = 0.0
    refilled: float = 0.0
    in_flight: int = 0

    def behaviour(self, now: float, phases: tuple[float, float]) -> Behaviour:
        if self.spec.degraded is not None and phases[0] <= now < phases[1]:
            return self.spec.degraded
        return self.spec.normal

    def _refill(self, now: float) -> None:
        burst = max(1.0, self.spec.rpm / 4)
        self.tokens = min(burst, self.tokens + (now - self.refilled) * self.spec.rpm / 60.0)
        self.refilled = now

    def has_token(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= 1.0

    def next_token_in(self, now: float) -> float:
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) * 60.0 / self.spec.rpm)


def jitter(rng: random.Random, median: float) -> float:
    return median * math.exp(rng.gauss(0.0, 0.3))


def true_cost(b: Behaviour, p: float) -> float:
    service = b.ttft + REF_TOKENS / b.tps
    if p <= 0:
        return math.inf
    return service + (b.fail_time + PENALTY) * (1 - p) / p


# ---- policies -----------------------------------------------------------------------------------------
class Policy(Protocol):
    name: str

    def choose(self, now: float, exclude: frozenset[int], rng: random.Random) -> tuple[int, Any] | None: ...

    def record(self, now: float, handle: Any, outcome: Outcome) -> None: ...

    def note_request(self, now: float) -> None: ...

    def allow_retry(self, now: float) -> bool: ...

    def retry_done(self, now: float) -> None: ...

    def request_done(self, now: float) -> None: ...


class Driver:
    """Runs the pool's coroutines to their end on one private event loop, between simulated events.

    The MemoryStore answers at once, but the pool may still hand a call to a task (it shields the store's
    lease grant, so a slot granted after its request left is given back): a plain `send(None)` would stop
    there, an event loop runs it through. Simulated time is the injected clock. The background tasks a call
    leaves (the statistics flusher, the slot renewer) sleep in real seconds, so they would wake at moments the
    simulation does not control and make runs differ: they are cancelled after every call, and the
    simulation flushes by hand every `flush_seconds` of simulated time."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        result = self.loop.run_until_complete(coro)
        self._cancel_background()
        return result

    def _cancel_background(self) -> None:
        pending = asyncio.all_tasks(self.loop)
        if pending:
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    def close(self) -> None:
        self._cancel_background()
        self.loop.close()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ThompsonPolicy:
    """The real AccountPool, as several instances sharing one MemoryStore."""

    name = "thompson"

    def __init__(self, clock: Clock, seed: int) -> None:
        self.clock = clock
        self.driver = Driver()
        self.accounts = [
            Account(
                id=str(i), kind="qwen-web", base_url="sim", name=s.name, token="x", max_concurrent=CONCURRENCY
            )
            for i, s in enumerate(ACCOUNTS)
        ]
        registry = _Static(self.accounts)
        store = MemoryStore(clock)
        self.pools = [
            AccountPool(registry, store, clock=clock, rng=random.Random(seed * 100 + d))
            for d in range(DECIDERS)
        ]
        self.current: AccountPool = self.pools[0]
        self.flushed: dict[int, float] = {}  # pool -> simulated time of its last flush

    def use(self, decider: int) -> None:
        self.current = self.pools[decider]

    def choose(self, now: float, exclude: frozenset[int], rng: random.Random) -> tuple[int, Any] | None:
        try:
            choice: Choice | None = self.driver.run(
                self.current.choose(MODEL, exclude=frozenset(str(i) for i in exclude))
            )
        except (UpstreamRateLimited, UpstreamError):
            return None
        if choice is None:  # every account at its concurrency limit
            return None
        return int(choice.account.id), (self.current, choice)

    def record(self, now: float, handle: Any, outcome: Outcome) -> None:
        pool, choice = handle
        self.driver.run(pool.record(choice, outcome))
        # statistics reach the shared store every flush_seconds, as the pool's background task does
        if now - self.flushed.get(id(pool), 0.0) >= pool.config.flush_seconds:
            self.flushed[id(pool)] = now
            self.driver.run(pool.flush())

    def note_request(self, now: float) -> None:
        self.current.retries.begin()

    def allow_retry(self, now: float) -> bool:
        return bool(self.driver.run(self.current.allow_retry()))

    def retry_done(self, now: float) -> None:
        self.current.retry_done()

    def request_done(self, now: float) -> None:
        self.current.retries.end()


class _Static:
    def __init__(self, accounts: list[Account]) -> None:
        self._accounts = accounts

    def accounts(self) -> list[Account]:
        return self._accounts


@dataclass
class Baseline:
    """Shared machinery: fresh in-flight counts, the simple cooldown, a global retry budget."""

    name: str
    world: list[AccountSim]
    pick: Callable[[Baseline, list[int], float, random.Random], int]
    cooldown_until: list[float] = field(default_factory=list)
    ewma: list[float] = field(default_factory=list)
    ewma_at: list[float] = field(default_factory=list)
    rr: int = 0
    budget: RetryGate = field(default_factory=RetryGate)

    def __post_init__(self) -> None:
        n = len(self.world)
        self.cooldown_until = [0.0] * n
        self.ewma = [1.0] * n
        self.ewma_at = [0.0] * n

    def choose(self, now: float, exclude: frozenset[int], rng: random.Random) -> tuple[int, Any] | None:
        free = [
            i
            for i, a in enumerate(self.world)
            if i not in exclude and a.in_flight < CONCURRENCY and self.cooldown_until[i] <= now
        ]
        if not free:
            return None
        i = self.pick(self, free, now, rng)
        return i, i

    def record(self, now: float, handle: Any, outcome: Outcome) -> None:
        i = int(handle)
        latency = outcome.ttft if outcome.ok and outcome.ttft is not None else (outcome.duration or 0.0)
        decay = math.exp(-(now - self.ewma_at[i]) / 10.0)
        self.ewma[i] = latency if latency > self.ewma[i] else self.ewma[i] * decay + latency * (1 - decay)
        self.ewma_at[i] = now
        error = outcome.error
        if not outcome.ok and error is not None and error.retryable:
            self.cooldown_until[i] = now + (error.retry_after or 5.0)

    def note_request(self, now: float) -> None:
        self.budget.begin()

    def allow_retry(self, now: float) -> bool:
        return self.budget.try_retry()

    def retry_done(self, now: float) -> None:
        self.budget.retry_done()

    def request_done(self, now: float) -> None:
        self.budget.end()


def pick_random(b: Baseline, free: list[int], now: float, rng: random.Random) -> int:
    return rng.choice(free)


def pick_round_robin(b: Baseline, free: list[int], now: float, rng: random.Random) -> int:
    n = len(b.world)
    for step in range(n):
        i = (b.rr + step) % n
        if i in free:
            b.rr = i + 1
            return i
    return free[0]


def pick_least_busy(b: Baseline, free: list[int], now: float, rng: random.Random) -> int:
    low = min(b.world[i].in_flight for i in free)
    return rng.choice([i for i in free if b.world[i].in_flight == low])


def pick_p2c_peak_ewma(b: Baseline, free: list[int], now: float, rng: random.Random) -> int:
    if len(free) == 1:
        return free[0]
    x, y = rng.sample(free, 2)

    def cost(i: int) -> float:
        return b.ewma[i] * math.exp(-(now - b.ewma_at[i]) / 10.0) * (b.world[i].in_flight + 1)

    return x if cost(x) <= cost(y) else y


class Oracle:
    """Knows the truth at every instant; picks argmin of the true cost among accounts with a free slot."""

    name = "oracle"

    def __init__(self, world: list[AccountSim], phases: tuple[float, float]) -> None:
        self.world = world
        self.phases = phases
        self.budget = RetryGate()

    def choose(self, now: float, exclude: frozenset[int], rng: random.Random) -> tuple[int, Any] | None:
        best = best_cost(self.world, now, self.phases, exclude)
        return None if best is None else (best[1], best[1])

    def record(self, now: float, handle: Any, outcome: Outcome) -> None:
        return None

    def note_request(self, now: float) -> None:
        self.budget.begin()

    def allow_retry(self, now: float) -> bool:
        return self.budget.try_retry()

    def retry_done(self, now: float) -> None:
        self.budget.retry_done()

    def request_done(self, now: float) -> None:
        self.budget.end()


class Clairvoyant(Oracle):
    """Knows every account's true p and latency, but not its rate-limit bucket: honours Retry-After only.

    Not a policy anyone can run; a floor for any policy that, like ours, cannot see the buckets.
    """

    name = "clairvoyant"

    def __init__(self, world: list[AccountSim], phases: tuple[float, float]) -> None:
        super().__init__(world, phases)
        self.cooldown_until = [0.0] * len(world)

    def choose(self, now: float, exclude: frozenset[int], rng: random.Random) -> tuple[int, Any] | None:
        costs = [
            (true_cost(a.behaviour(now, self.phases), a.behaviour(now, self.phases).p), i)
            for i, a in enumerate(self.world)
            if a.in_flight < CONCURRENCY and i not in exclude and self.cooldown_until[i] <= now
        ]
        return None if not costs else (min(costs)[1], min(costs)[1])

    def record(self, now: float, handle: Any, outcome: Outcome) -> None:
        if outcome.error is not None and outcome.error.retry_after:
            self.cooldown_until[int(handle)] = now + outcome.error.retry_after


def current_p(a: AccountSim, now: float, phases: tuple[float, float]) -> float:
    return a.behaviour(now, phases).p if a.has_token(now) else 0.0


def best_cost(
    world: list[AccountSim], now: float, phases: tuple[float, float], exclude: frozenset[int] = frozenset()
) -> tuple[float, int] | None:
    costs = [
        (true_cost(a.behaviour(now, phases), current_p(a, now, phases)), i)
        for i, a in enumerate(world)
        if a.in_flight < CONCURRENCY and i not in exclude
    ]
    return min(costs) if costs else None


# ---- the simulation -----------------------------------------------------------------------------------
@dataclass
class Request:
    arrived: float
    phase: int
    decider: int
    attempts: int = 0
    tried: frozenset[int] = frozenset()
    retrying: bool = False  # the attempt in flight holds a retry from the budget


@dataclass
class PhaseStats:
    requests: int = 0
    successes: int = 0
    ttft_sum: float = 0.0
    attempts: int = 0
    regret: float = 0.0


def simulate(policy_name: str, seed: int, duration: float, rate: float) -> list[PhaseStats]:
    phases = (duration / 3, 2 * duration / 3)
    world = [AccountSim(s, random.Random(f"{seed}:{s.name}")) for s in ACCOUNTS]
    for a in world:
        a.tokens = max(1.0, a.spec.rpm / 4)
    clock = Clock()
    policy: Policy
    thompson: ThompsonPolicy | None = None
    if policy_name == "thompson":
        policy = thompson = ThompsonPolicy(clock, seed)
    elif policy_name == "oracle":
        policy = Oracle(world, phases)
    elif policy_name == "clairvoyant":
        policy = Clairvoyant(world, phases)
    else:
        picks = {
            "random": pick_random,
            "round-robin": pick_round_robin,
            "least-busy": pick_least_busy,
            "p2c-peak-ewma": pick_p2c_peak_ewma,
        }
        policy = Baseline(policy_name, world, picks[policy_name])
    arrivals = random.Random(f"{seed}:arrivals")
    choice_rng = random.Random(f"{seed}:{policy_name}")
    stats = [PhaseStats() for _ in range(3)]
    events: list[tuple[float, int, Callable[[], None]]] = []
    seq = itertools.count()

    def at(t: float, action: Callable[[], None]) -> None:
        heapq.heappush(events, (t, next(seq), action))

    def settle(req: Request, *, finished: bool) -> None:
        """The attempt in flight is over: its retry goes back to the budget, and so does the request if
        `finished`."""
        if thompson is not None:
            thompson.use(req.decider)
        if req.retrying:
            req.retrying = False
            policy.retry_done(clock.now)
        if finished:
            policy.request_done(clock.now)

    def attempt(req: Request) -> None:
        now = clock.now
        if thompson is not None:
            thompson.use(req.decider)
        st = stats[req.phase]
        best = best_cost(world, now, phases)
        picked = policy.choose(now, req.tried, choice_rng)
        if picked is None:
            if best is not None:
                st.regret += PENALTY
            settle(req, finished=True)
            return  # refused: the request fails
        i, handle = picked
        a = world[i]
        b = a.behaviour(now, phases)
        p = current_p(a, now, phases)
        if best is not None:
            v_star = best[0]
            c = true_cost(b, p)
            st.regret += (b.fail_time + PENALTY) if p <= 0 else p * (c - v_star)
        req.attempts += 1
        req.tried = req.tried | {i}
        st.attempts += 1
        a.in_flight += 1
        rng = a.rng
        if not a.has_token(now):
            retry_after = a.next_token_in(now)
            fail_at(req, i, handle, 0.05, UpstreamRateLimited("429", retry_after=max(retry_after, 0.01)))
            return
        a.tokens -= 1.0
        draw = rng.random()
        if draw < b.p:
            ttft = jitter(rng, b.ttft)
            tps = b.tps * math.exp(rng.gauss(0.0, 0.1))
            total = ttft + ANSWER_TOKENS / tps

            def done() -> None:
                a.in_flight -= 1
                policy.record(
                    clock.now, handle, Outcome(ok=True, ttft=ttft, tokens_per_s=tps, duration=total)
                )
                settle(req, finished=True)

            st.successes += 1
            st.ttft_sum += now + ttft - req.arrived
            at(now + total, done)
        elif b.fail_kind == "429":
            fail_at(req, i, handle, jitter(rng, b.fail_time), UpstreamRateLimited("429 too many requests"))
        else:
            fail_at(req, i, handle, jitter(rng, b.fail_time), UpstreamError("502 bad gateway"))

    def fail_at(req: Request, i: int, handle: Any, after: float, error: GatewayError) -> None:
        def failed() -> None:
            world[i].in_flight -= 1
            if thompson is not None:
                thompson.use(req.decider)
            policy.record(clock.now, handle, Outcome(ok=False, error=error, duration=after))
            settle(req, finished=False)
            if req.attempts < MAX_ATTEMPTS and policy.allow_retry(clock.now):
                req.retrying = True
                attempt(req)
            else:
                settle(req, finished=True)

        at(clock.now + after, failed)

    def arrive(req: Request) -> None:
        stats[req.phase].requests += 1
        if thompson is not None:
            thompson.use(req.decider)
        policy.note_request(clock.now)
        attempt(req)

    t = 0.0
    while True:
        t += arrivals.expovariate(rate)
        if t >= duration:
            break
        phase = 0 if t < phases[0] else 1 if t < phases[1] else 2
        req = Request(arrived=t, phase=phase, decider=arrivals.randrange(DECIDERS))
        at(t, lambda r=req: arrive(r))  # type: ignore[misc]
    try:
        while events:
            clock.now, _, action = heapq.heappop(events)
            action()
    finally:
        if thompson is not None:
            thompson.driver.close()
    return stats


# ---- the report ---------------------------------------------------------------------------------------
POLICIES = ["thompson", "random", "round-robin", "least-busy", "p2c-peak-ewma", "clairvoyant", "oracle"]
PHASES = ["steady", "degraded", "recovered"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--duration", type=float, default=1800.0, help="simulated seconds (3 equal phases)")
    parser.add_argument("--rate", type=float, default=2.5, help="requests per second")
    parser.add_argument("--tiny", action="store_true", help="smoke run: one seed, 300 simulated seconds")
    args = parser.parse_args()
    if args.tiny:
        args.seeds, args.duration = 1, 300.0
    started = time.perf_counter()
    results: dict[str, list[list[PhaseStats]]] = {p: [] for p in POLICIES}
    for seed in range(args.seeds):
        for name in POLICIES:
            results[name].append(simulate(name, seed, args.duration, args.rate))
    print(
        f"{args.seeds} seeds x {args.duration:.0f} s simulated at {args.rate} req/s, {len(ACCOUNTS)} accounts, "
        f"{DECIDERS} deciders (thompson) reading <= 1 s stale state; regret in s/request (R = {PENALTY} s)\n"
    )
    header = f"{'policy':<15}{'phase':<11}{'success':>9}{'TTFT s':>9}{'regret':>9}{'attempts':>10}"
    print(header)
    print("-" * len(header))
    per_seed_regret: dict[str, list[float]] = {}
    for name in POLICIES:
        runs = results[name]
        per_seed_regret[name] = [
            sum(s.regret for s in run) / max(1, sum(s.requests for s in run)) for run in runs
        ]
        for k, phase in enumerate([*PHASES, "all"]):
            rows = [run[k] for run in runs] if k < 3 else [merge(run) for run in runs]
            req = sum(r.requests for r in rows)
            ok = sum(r.successes for r in rows)
            print(
                f"{name:<15}{phase:<11}{ok / req:>9.3f}{sum(r.ttft_sum for r in rows) / max(ok, 1):>9.2f}"
                f"{sum(r.regret for r in rows) / req:>9.3f}{sum(r.attempts for r in rows) / req:>10.2f}"
            )
        print()
    ours = per_seed_regret["thompson"]
    for other in ("round-robin", "p2c-peak-ewma", "least-busy", "random", "clairvoyant"):
        ratios = [o / b for o, b in zip(ours, per_seed_regret[other], strict=True) if b > 0]
        print(
            f"regret thompson / {other:<14} mean {statistics.mean(ours) / statistics.mean(per_seed_regret[other]):.3f}"
            f"   per seed {min(ratios):.3f}..{max(ratios):.3f}"
        )
    print(f"\nwall time {time.perf_counter() - started:.1f} s")


def merge(run: list[PhaseStats]) -> PhaseStats:
    out = PhaseStats()
    for s in run:
        out.requests += s.requests
        out.successes += s.successes
        out.ttft_sum += s.ttft_sum
        out.attempts += s.attempts
        out.regret += s.regret
    return out


if __name__ == "__main__":
    main()
