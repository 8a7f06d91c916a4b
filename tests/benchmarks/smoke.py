"""Running one benchmark of bench/ at its smoke size (`--tiny`): it must complete and print its table.

Nothing here reads a figure: a benchmark measures, a test only shows that it still runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import run_all  # noqa: E402

# The benchmarks that start servers, and those that run in this machine's processes only: two modules, so
# the two halves run on different test workers.
WITH_SERVERS = ["proxies", "web_first_token", "gateway", "standalone", "hostile"]
LOCAL = ["pool", "store", "cold_start", "tokenizer", "toolcalls"]


def run_tiny(name: str) -> None:
    bench = run_all.BENCHES[name]
    done = subprocess.run(run_all.command(name, tiny=True), capture_output=True, text=True, timeout=600)
    shown = f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, f"{bench.script} --tiny exited with {done.returncode}\n{shown}"
    if name == "standalone" and "is not built" in done.stdout:
        pytest.skip("dist/qwen-server is not built (./dev test builds it before the whole suite)")
    assert bench.table in done.stdout, f"{bench.script} --tiny printed no table\n{shown}"
