"""The standalone executable (`./dev dist`) beside the venv install: size on disk, time from start to the first
answered chat request, and idle memory.

    python bench/standalone.py [--runs 3] [--tiny]

Both rows run `qwen-server serve --emulate --workers 1` in an empty folder: the executable with a bare
environment (PATH=/usr/bin:/bin, and QWEN_SERVER_CACHE naming a fresh temporary cache), the venv install as
`python -m qwen_server.cli` with this interpreter. The clock starts just before the process is spawned and
stops when a chat completion has been answered (the request is retried every 50 ms until one succeeds; this
includes starting the emulator child). The executable's first start unpacks it into the cache and is shown
apart; later starts ("restart", median of --runs) run it from there. Idle memory is the resident set of the
serving processes (the emulator child excluded) a few seconds after the answer. The venv's size is the files
of the default install's distributions (`qwen-api-server`'s requirements, transitively), without the
interpreter that the executable also carries. Targets: the executable under 150 MB, its first answer within
15 s. Skipped, with a line saying so, when dist/qwen-server has not been built.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import httpx
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the repository: `tests` is a package
from tests.services import free_port as _free_port  # noqa: E402  (ports no other test worker hands out)

MAX_MB = 150
MAX_FIRST_ANSWER_S = 15
IDLE_SECONDS = 3
CHAT = {"model": "qwen3-max", "messages": [{"role": "user", "content": "first"}]}


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_binary", REPO / "infra" / "freeze" / "build_binary.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def _serving_rss_mb(pid: int) -> float:
    """RSS of `pid` and its descendants, leaving out the emulator child and its own descendants."""
    total = _rss_mb(pid)
    for child in _children(pid):
        if b"emulator" not in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[1:6]:
            total += _serving_rss_mb(child)
    return total


def first_answer(command: list[str], env: dict[str, str], idle: bool = True) -> tuple[float, float]:
    """Seconds from spawn to the first answered chat, and the idle RSS (MB) a few seconds later."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="standalone-bench-") as folder:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, "serve", "--emulate", "--workers", "1", "--port", str(port)],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = started + 120
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"{command[0]} exited with {process.returncode} before answering")
                if time.perf_counter() > deadline:
                    raise SystemExit(f"{command[0]} did not answer within 120 s")
                try:
                    answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT, timeout=30)
                    if answer.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            if not idle:  # the resident set is not wanted: no need to let it settle
                return seconds, float("nan")
            time.sleep(IDLE_SECONDS)
            return seconds, _serving_rss_mb(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _tree_mb(folder: Path) -> float:
    """Bytes of the files under `folder` (links not followed), in MB."""
    return sum(f.lstat().st_size for f in folder.rglob("*") if not f.is_symlink() and f.is_file()) / 1e6


def _default_install_mb() -> float:
    """Size of the files of every distribution the default install pulls in (no extras, no interpreter)."""
    seen: set[str] = set()
    pending = [(Requirement(r), ()) for r in metadata.requires("qwen-api-server") or []]
    total = 0
    while pending:
        requirement, extras = pending.pop()
        if requirement.marker and not any(
            requirement.marker.evaluate({"extra": extra}) for extra in (extras or ("",))
        ):
            continue
        name = requirement.name.lower().replace("_", "-")
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if name not in seen:
            seen.add(name)
            total += sum(f.size or 0 for f in dist.files or () if f.hash)
        pending += [(Requirement(r), tuple(requirement.extras)) for r in dist.requires or []]
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh starts per row (median)")
    parser.add_argument("--tiny", action="store_true", help="smoke run: first starts only, targets not enforced")
    args = parser.parse_args()
    builder = _builder()
    binary: Path = builder.BINARY
    if not binary.is_file():
        print(f"{binary.relative_to(REPO)} is not built (run ./dev dist): the standalone benchmark is skipped")
        return
    if not builder.is_current():
        print(f"note: {binary.relative_to(REPO)} was built from other sources than the tree's (./dev dist)")
    cache = Path(tempfile.mkdtemp(prefix="standalone-cache-"))
    bare = {"PATH": "/usr/bin:/bin", "QWEN_SERVER_CACHE": str(cache)}
    venv_env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "STORE_", "GATEWAY_"))}
    rows = [
        (f"{binary.relative_to(REPO)} (one file)", [str(binary)], bare, binary.stat().st_size / 1e6),
        ("venv install (python -m qwen_server.cli)", [sys.executable, "-m", "qwen_server.cli"], venv_env,
         _default_install_mb()),
    ]
    try:
        firsts = [first_answer(command, env, idle=False)[0] for _, command, env, _ in rows]  # the binary unpacks here
        unpacked_mb = _tree_mb(cache)
        samples: list[list[tuple[float, float]]] = [[] for _ in rows]
        for _ in range(0 if args.tiny else max(1, args.runs)):  # round-robin, so load from elsewhere hits both rows alike
            for i, (_, command, env, _) in enumerate(rows):
                samples[i].append(first_answer(command, env))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"serve --emulate --workers 1, start to first answered chat; restart: median of {args.runs}\n")
    header = (
        f"{'install':42} {'size MB':>8} {'first start s':>13} {'restart s':>9} {'best s':>7} {'idle RSS MB':>11}"
    )
    print(header)
    print("-" * len(header))
    for (name, _, _, size), first, runs in zip(rows, firsts, samples, strict=True):
        runs = runs or [(first, float("nan"))]  # --tiny: the first start stands in for the restarts
        seconds = [s for s, _ in runs]
        rss = statistics.median(r for _, r in runs)
        print(
            f"{name:42} {size:8.1f} {first:13.2f} {statistics.median(seconds):9.2f} {min(seconds):7.2f} {rss:11.1f}"
        )
    print(
        f"\n(the executable's first start unpacks {unpacked_mb:.0f} MB into its cache; the venv's size counts its"
        " default dependencies' files only, the executable also carries Python)"
    )
    if args.tiny:
        return
    size, first = rows[0][3], max(firsts[0], statistics.median(s for s, _ in samples[0]))
    missed = []
    if size > MAX_MB:
        missed.append(f"the executable is {size:.1f} MB (target under {MAX_MB} MB)")
    if first > MAX_FIRST_ANSWER_S:
        missed.append(f"its first answer took {first:.1f} s (target within {MAX_FIRST_ANSWER_S} s)")
    if missed:
        raise SystemExit("; ".join(missed))
    print(f"Targets met: under {MAX_MB} MB, first answer within {MAX_FIRST_ANSWER_S} s.")


if __name__ == "__main__":
    main()
