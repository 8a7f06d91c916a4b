"""Run every benchmark in turn; each prints its own table.

python bench/run_all.py [name ...]     (names: proxies, gateway, pool, store, cold_start, tokenizer, toolcalls,
                                       standalone)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "proxies": "proxy_compare.py",
    "gateway": "gateway_vs_direct.py",
    "pool": "pool_sim.py",
    "store": "store_bench.py",
    "cold_start": "cold_start.py",
    "tokenizer": "tokenizer_bench.py",
    "toolcalls": "toolcall_parser.py",
    "standalone": "standalone.py",  # skips itself, saying so, when dist/qwen-server is not built
}
ARGUMENTS = {"proxies": ["--redis"]}  # its store round-trip count skips itself when redis-server is missing


def main() -> None:
    chosen = sys.argv[1:] or list(BENCHES)
    failed = []
    for name in chosen:
        script = HERE / BENCHES[name]
        if not script.exists():
            print(f"\n== {name}: {script.name} not present, skipped")
            continue
        print(f"\n== {name} ({script.name})", flush=True)
        command = [sys.executable, str(script), *ARGUMENTS.get(name, [])]
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(name)
    if failed:
        raise SystemExit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
