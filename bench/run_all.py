"""Run every benchmark in turn; each prints its own table.

python bench/run_all.py [--tiny] [name ...]     (names: the keys of BENCHES)

`--tiny` runs each at a smoke size (`--tiny` is passed on): that it completes and prints its table is all it
shows, its figures mean nothing and its targets are not enforced. tests/bench runs it that way, so a change that
breaks a benchmark fails `./dev test`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    script: str
    table: str  # a line of its table's header: printed once the table is
    arguments: tuple[str, ...] = field(default=())


BENCHES = {
    # proxies: LiteLLM side by side only when .venv-litellm exists (--with-litellm creates it); the Redis rows and
    # the store round-trip count skip themselves, saying so, when redis-server is missing
    "proxies": Bench("proxy_compare.py", "The gateway by store, 1 worker", ("--redis",)),
    "web_first_token": Bench("web_first_token.py", "Time to first token, streamed"),
    "gateway": Bench("gateway_vs_direct.py", "direct rps"),
    "pool": Bench("pool_sim.py", "regret thompson / round-robin"),
    "store": Bench("store_bench.py", "calls/admit"),
    "cold_start": Bench("cold_start.py", "Time to first answer"),
    "tokenizer": Bench("tokenizer_bench.py", "Mchar/s"),
    "toolcalls": Bench("toolcall_parser.py", "per-char cost"),
    # skips itself, saying so, when dist/qwen-server is not built
    "standalone": Bench("standalone.py", "idle RSS MB"),
    # resource bounds: this tree against the one before them
    "hostile": Bench("hostile_input.py", "attack"),
}
# Servers, clients and parts the benchmarks above start or import: not benchmarks themselves.
HELPERS = {
    "aio_serve.py",
    "fake_openai.py",
    "fast_upstream.py",
    "first_answer.py",
    "litellm_proxy.py",
    "loadgen.py",
    "passthrough_proxy.py",
    "redis_round_trips.py",
    "run_all.py",
    "store_paths.py",
}


def command(name: str, tiny: bool = False) -> list[str]:
    bench = BENCHES[name]
    return [sys.executable, str(HERE / bench.script), *bench.arguments, *(["--tiny"] if tiny else [])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="./dev bench", description="Run the benchmarks and print their tables.")
    parser.add_argument("--tiny", action="store_true", help="a smoke size: each completes and prints its table")
    parser.add_argument("names", nargs="*", metavar="name", help=f"any of: {', '.join(BENCHES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(unknown)} (known: {', '.join(BENCHES)})")
    failed = []
    for name in args.names or list(BENCHES):
        print(f"\n== {name} ({BENCHES[name].script})", flush=True)
        if subprocess.run(command(name, args.tiny), check=False).returncode != 0:
            failed.append(name)
    if failed:
        raise SystemExit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
