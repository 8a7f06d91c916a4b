"""The gateway on each store with one worker, at c=32 and at c=1, optionally beside older versions of itself.

Used by bench/proxy_compare.py (its "stores" table). A baseline is a git ref: its `layers/core` and `shared` are exported
into a temporary folder and put first on the gateway's PYTHONPATH, so the same interpreter, dependencies, load
generator and upstream serve both versions. Every gateway runs at once and all are measured in rounds, together
with the paths they are compared to (direct, the pass-through proxy), so the machine's load hits them alike.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from loadgen import Latency, Throughput, latency, throughput

from tests.processes import Service, start_gateway

REPO = Path(__file__).resolve().parents[1]
THIS_TREE = "this tree"


@dataclass
class StoreRow:
    version: str
    store: str
    non_stream: Throughput
    stream: Throughput
    latency: Latency
    cpu_ms: tuple[float, float] | None = None  # the process's own CPU per request: non-stream, stream


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU a process has used (Linux /proc; None elsewhere). Unlike req/s on shared cores, what
    a request costs in CPU does not move with the load other processes put on the machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def versions(refs: list[str]) -> Iterator[dict[str, dict[str, str]]]:
    """{version name: extra gateway environment}: each ref's package first on PYTHONPATH, then this tree."""
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        found: dict[str, dict[str, str]] = {}
        for ref in refs:
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", ref, "layers/core", "shared"],
                capture_output=True,
                check=True,
            ).stdout
            folder = Path(tmp, ref.replace("/", "_"))
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(folder, filter="data")
            package = str(folder / "layers" / "core")
            _check_import(package)
            commit = subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", ref],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            found[f"{ref} ({commit})"] = {"PYTHONPATH": package}
        found[THIS_TREE] = {}
        yield found


def _check_import(package: str) -> None:
    """The exported package, not the installed one, is what a gateway started with it imports."""
    where = subprocess.run(
        [sys.executable, "-c", "import qwen_server; print(qwen_server.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": package, "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    if not where.startswith(package):
        raise SystemExit(f"a baseline imports {where}, not {package}")


def gateway(
    upstream: Service, store_url: str, workers: int = 1, extra: dict[str, str] | None = None
) -> Service:
    """The gateway with one `openai`-kind account on the fake upstream, capacity never the limit."""
    account = {"kind": "openai", "base_url": f"{upstream.url}/v1", "api_key": "k", "max_concurrent": 4096}
    env = {
        "STORE_URL": store_url,
        "SCHED_CHAT_CONCURRENT": "4096",
        "SCHED_CHAT_QUEUE": "8192",
        "UPSTREAM_FIRST_BYTE_TIMEOUT": "30",
        **(extra or {}),
    }
    return start_gateway(env, accounts=[account], workers=workers)


def measure(
    upstream: Service,
    stores: dict[str, str | Callable[[], str]],
    refs: list[str],
    clients: int,
    requests: int,
    latency_requests: int,
    rounds: int = 5,
    others: dict[str, Service] | None = None,
) -> tuple[list[StoreRow], dict[str, StoreRow]]:
    """Every (store, version) gateway at once, one worker each, then `rounds` rounds that measure each in turn
    with a share of the requests: load from elsewhere on the machine comes and goes, and interleaving in rounds
    lets it hit every row alike. A row's figures are the medians of its rounds, but its CPU per request is
    the total over all of them. `others` (by name) are measured in the same rounds and come back apart."""
    cells: list[tuple[str, str, Service]] = [(name, "", service) for name, service in (others or {}).items()]
    started: list[Service] = []
    with versions(refs) as found:
        try:
            for store, url in stores.items():
                for version, extra in found.items():
                    started.append(gateway(upstream, url() if callable(url) else url, extra=extra))
                    cells.append((version, store, started[-1]))
            samples: list[list[tuple[Throughput, Throughput, Latency]]] = [[] for _ in cells]
            cpu = [[0.0, 0.0] for _ in cells]
            per_round, sequential = max(clients, requests // rounds), max(5, latency_requests // rounds)
            for n in range(rounds):
                print(f"  round {n + 1} of {rounds} ...", flush=True)
                for i, (_, _, service) in enumerate(cells):
                    chat = f"{service.url}/v1/chat/completions"
                    pid = service.process.pid
                    before = cpu_seconds(pid)
                    non_stream = throughput(chat, False, clients, per_round)
                    middle = cpu_seconds(pid)
                    stream = throughput(chat, True, clients, per_round)
                    after = cpu_seconds(pid)
                    if before is not None and middle is not None and after is not None:
                        cpu[i][0] += middle - before
                        cpu[i][1] += after - middle
                    samples[i].append(
                        (non_stream, stream, latency(chat, sequential, warmup=20 if n == 0 else 3))
                    )
        finally:
            for gw in started:
                gw.stop()
    rows = [
        StoreRow(
            version,
            store,
            _median_rate([s[0] for s in runs]),
            _median_rate([s[1] for s in runs]),
            Latency(
                statistics.median(s[2].p50_ms for s in runs), statistics.median(s[2].p99_ms for s in runs)
            ),
            (used[0] * 1000 / (per_round * rounds), used[1] * 1000 / (per_round * rounds))
            if cpu_seconds(os.getpid()) is not None
            else None,
        )
        for (version, store, _), runs, used in zip(cells, samples, cpu, strict=True)
    ]
    return [row for row in rows if row.store], {row.version: row for row in rows if not row.store}


def _median_rate(runs: list[Throughput]) -> Throughput:
    return Throughput(statistics.median(r.rps for r in runs), sum(r.errors for r in runs))


def print_table(rows: list[StoreRow], direct: Latency, clients: int) -> None:
    """Throughput at c=`clients` and its ratio to the same version on memory; c=1 latency added over direct."""
    memory = {row.version: row for row in rows if row.store == "memory"}
    print(f"\nThe gateway by store, 1 worker: c={clients} throughput, c=1 added latency over direct")
    header = (
        f"{'version':24} {'store':8} {'non-stream req/s':>16} {'x memory':>8} {'stream req/s':>12} {'x memory':>8}"
        f" {'CPU ms/req':>11} {'added p50 / p99 ms':>18} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for row in sorted(rows, key=lambda r: (list(memory).index(r.version), r.store != "memory")):
        base = memory[row.version]
        added = f"{row.latency.p50_ms - direct.p50_ms:.2f} / {row.latency.p99_ms - direct.p99_ms:.2f}"
        print(
            f"{row.version[:24]:24} {row.store:8} {row.non_stream.rps:16,.0f}"
            f" {row.non_stream.rps / base.non_stream.rps:8.2f} {row.stream.rps:12,.0f}"
            f" {row.stream.rps / base.stream.rps:8.2f} {cpu_text(row.cpu_ms):>11} {added:>18}"
            f" {row.non_stream.errors + row.stream.errors:6}"
        )
    print("CPU ms/req: the server process's own CPU per request, non-stream / stream (steadier than req/s when")
    print("other work shares the cores)")


def cpu_text(cpu_ms: tuple[float, float] | None) -> str:
    return "-" if cpu_ms is None else f"{cpu_ms[0]:.2f} / {cpu_ms[1]:.2f}"
