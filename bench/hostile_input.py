"""Hostile input against the gateway process, before and after its resource bounds: what each attack costs
the server in memory, CPU and event-loop time.

    python bench/hostile_input.py [--before REV] [--scale 1.0] [--tiny]

Each attack runs over real HTTP against `qwen-server serve` (the emulator its own process), once against the
current tree and once against `--before` (a git revision, unpacked to a temporary folder and put first on
the server's PYTHONPATH; `--before none` skips it). Per attack: the answer's status, the server's peak
resident memory growth (VmHWM, reset before the attack), its CPU time and the share of it spent on the
event-loop thread, the bytes it read, and the slowest `/health` answer while the attack ran (probed every
50 ms from another thread). Sizes are the review's, scaled by `--scale`:

- fan-out: a chat request naming one uploaded 40 MiB file in 20 parts;
- fields: 128 MiB of multipart form fields, chunked, on /v1/files;
- stops: an Anthropic stream with 500,000 stop sequences and a 300-word answer;
- count: /v1/messages/count_tokens of 15 MB of text;
- blocks: /v1/messages/count_tokens of 700,000 small text blocks (19 MB of JSON);
- batch line: a batch whose input file is one 48 MiB line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository: `tests` is a package
from tests.proc_stats import (  # noqa: E402
    HealthWatch,
    MiB,
    bytes_read,
    cpu_ticks,
    main_thread_ticks,
    peak_rss,
    reset_peak,
)
from tests.processes import Service, emulator_accounts, start_emulator, start_gateway  # noqa: E402

BEFORE = "e34d982"  # main before the resource bounds of issue 22 (items 5-7)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(56)
ANTHROPIC = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
OPENAI = {"authorization": "Bearer k"}
TICK = 0.01  # seconds per clock tick in /proc/<pid>/stat
ATTACKS = ["fan-out", "fields", "stops", "count", "blocks", "batch line"]


@dataclass
class Row:
    attack: str
    tree: str
    status: str
    rss_mib: float
    cpu_s: float
    loop_share: float
    read_mib: float
    health_s: float


def unpack(rev: str) -> Path | None:
    """The revision's `layers/` and `shared/` in a temporary folder; None when git cannot give them."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", rev, "layers", "shared"], capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"(no 'before' column: git archive {rev} failed: {exc})")
        return None
    target = Path(tempfile.mkdtemp(prefix="bench-before-"))
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "layers" / "core"


def measure(gateway: Service, attack: Callable[[], str]) -> tuple[str, float, float, float, float, float]:
    pid = gateway.process.pid
    reset_peak(pid)
    rss0, cpu0, loop0, read0 = peak_rss(pid), cpu_ticks(pid), main_thread_ticks(pid), bytes_read(pid)
    with HealthWatch(gateway.url, deadline=120) as health:
        status = attack()
    time.sleep(0.2)  # let a refused upload's remaining bytes drain before reading the counters
    cpu, loop = cpu_ticks(pid) - cpu0, main_thread_ticks(pid) - loop0
    return (
        status,
        (peak_rss(pid) - rss0) / MiB,
        cpu * TICK,
        min(1.0, loop / cpu) if cpu else 0.0,  # the two counters are read a moment apart
        (bytes_read(pid) - read0) / MiB,
        health.worst,
    )


def upload(gateway: Service, name: str, data: bytes, purpose: str) -> str:
    response = httpx.post(
        f"{gateway.url}/v1/files",
        files={"file": (name, data)},
        data={"purpose": purpose},
        headers=OPENAI,
        timeout=300,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def attacks(gateway: Service, scale: float) -> dict[str, tuple[Callable[[], None], Callable[[], str]]]:
    """name -> (set-up, not measured; the attack, answering the status it got)."""
    state: dict[str, Any] = {}

    def fan_out_setup() -> None:
        state["big"] = upload(gateway, "big.png", PNG + bytes(int(40 * MiB * scale)), "vision")

    def fan_out() -> str:
        parts = [{"type": "file", "file": {"file_id": state["big"]}} for _ in range(20)]
        body = {"model": "qwen3-vl-plus", "messages": [{"role": "user", "content": parts}]}
        return str(httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=OPENAI, timeout=600).status_code)

    def fields() -> str:
        def form() -> Iterator[bytes]:
            for i in range(int(2048 * scale)):
                yield f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n'.encode()
                yield b"x" * (64 * 1024 - 16) + b"\r\n"
            yield b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{}\r\n--b--\r\n'

        headers = {"content-type": "multipart/form-data; boundary=b", **OPENAI}
        return str(httpx.post(f"{gateway.url}/v1/files", content=form(), headers=headers, timeout=600).status_code)

    def stops() -> str:
        answer = " ".join(f"word{i}" for i in range(int(300 * scale)))
        body = {
            "model": "claude-opus-4-1",
            "max_tokens": 8192,
            "stream": True,
            "stop_sequences": [f"never-{i}" for i in range(int(500_000 * scale))],
            "messages": [{"role": "user", "content": answer}],
        }
        with httpx.stream("POST", f"{gateway.url}/v1/messages", json=body, headers=ANTHROPIC, timeout=600) as r:
            for _ in r.iter_bytes():
                pass
            return str(r.status_code)

    def count() -> str:
        line = "The quick brown fox jumps over the lazy dog, again and again. 狐狸跳过了懒狗。\n"
        text = line * int(15_000_000 * scale / len(line.encode()))
        body = {"model": "claude-opus-4-1", "messages": [{"role": "user", "content": text}]}
        r = httpx.post(f"{gateway.url}/v1/messages/count_tokens", json=body, headers=ANTHROPIC, timeout=600)
        return str(r.status_code)

    def blocks() -> str:
        content = [{"type": "text", "text": "hi"}] * int(700_000 * scale)
        body = {"model": "claude-opus-4-1", "messages": [{"role": "user", "content": content}]}
        r = httpx.post(f"{gateway.url}/v1/messages/count_tokens", json=body, headers=ANTHROPIC, timeout=600)
        return str(r.status_code)

    def batch_setup() -> None:
        line = (
            b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "qwen3-max", '
            b'"messages": [{"role": "user", "content": "' + b"w" * int(48 * MiB * scale) + b'"}]}}'
        )
        state["batch"] = upload(gateway, "one-line.jsonl", line, "batch")

    def batch_line() -> str:
        body = {"input_file_id": state["batch"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        r = httpx.post(f"{gateway.url}/v1/batches", json=body, headers=OPENAI, timeout=600)
        return f"{r.status_code} {r.json().get('status', '')}".strip()

    def nothing() -> None:
        return None

    return {
        "fan-out": (fan_out_setup, fan_out),
        "fields": (nothing, fields),
        "stops": (nothing, stops),
        "count": (nothing, count),
        "blocks": (nothing, blocks),
        "batch line": (batch_setup, batch_line),
    }


def run_tree(
    tree: str, pythonpath: Path | None, emulator: Service, scale: float, fresh: bool = True
) -> list[Row]:
    """Every attack on a fresh gateway process, so none measures memory another one left behind (with
    `fresh=False`, as a smoke run does, one warmed-up gateway takes them all)."""
    env = {"PYTHONPATH": str(pythonpath)} if pythonpath else {}
    env["BATCH_WORKER"] = "false"  # the batch attack is its validation; no line should run afterwards
    rows = []
    gateway: Service | None = None
    try:
        for name in ATTACKS:
            if gateway is None or fresh:
                if gateway is not None:
                    gateway.stop()
                gateway = start_gateway(env, accounts=emulator_accounts(emulator, 1))
                warm_up(gateway)
            setup, attack = attacks(gateway, scale)[name]
            setup()
            print(f"  {tree}: {name} ...", flush=True)
            rows.append(Row(name, tree, *measure(gateway, attack)))
    finally:
        if gateway is not None:
            gateway.stop()
    return rows


def warm_up(gateway: Service) -> None:
    """Load the vocabulary and the media path (signed in to the emulator) first: their memory and CPU are
    not the attack's."""
    httpx.post(
        f"{gateway.url}/v1/messages/count_tokens",
        json={"model": "claude-opus-4-1", "messages": [{"role": "user", "content": "warm"}]},
        headers=ANTHROPIC,
        timeout=120,
    )
    small = upload(gateway, "dot.png", PNG, "vision")
    parts = [{"type": "file", "file": {"file_id": small}}, {"type": "text", "text": "warm"}]
    warm = {"model": "qwen3-vl-plus", "messages": [{"role": "user", "content": parts}]}
    httpx.post(f"{gateway.url}/v1/chat/completions", json=warm, headers=OPENAI, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="git revision to compare with, or 'none'")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every attack's size")
    parser.add_argument(
        "--tiny", action="store_true", help="a smoke run: this tree only, one gateway, at 1/1000 of the sizes"
    )
    args = parser.parse_args()
    if args.tiny:
        args.scale, args.before = 0.001, "none"
    emulator = start_emulator("--seed", "3", accounts=1)
    try:
        old = unpack(args.before) if args.before != "none" else None
        rows = run_tree("after", None, emulator, args.scale, fresh=not args.tiny)
        if old is not None:
            rows += run_tree(f"before ({args.before})", old, emulator, args.scale)
    finally:
        emulator.stop()
    where = "one gateway for all (a smoke run)" if args.tiny else "on a fresh gateway process"
    print(f"\nHostile input, one request each, {where} (scale {args.scale})")
    header = (
        f"{'attack':<11} {'tree':<18} {'status':<15} {'peak RSS +MiB':>13} {'CPU s':>7} {'on loop':>8} "
        f"{'read MiB':>9} {'/health worst s':>16}"
    )
    print(header)
    print("-" * len(header))
    for row in sorted(rows, key=lambda r: (ATTACKS.index(r.attack), r.tree)):
        print(
            f"{row.attack:<11} {row.tree:<18} {row.status:<15} {row.rss_mib:>13.0f} {row.cpu_s:>7.2f} "
            f"{row.loop_share:>8.0%} {row.read_mib:>9.0f} {row.health_s:>16.2f}"
        )


if __name__ == "__main__":
    main()
