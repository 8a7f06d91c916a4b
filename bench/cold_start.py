"""Cold-start cost of each function's entry module, against a bare `import fastapi` measured in the same run;
then each function's time to its first answered request, against a bare FastAPI app's (bench/first_answer.py).

    python bench/cold_start.py [--runs 7] [--first-answer-runs 5] [--tiny]

`--tiny` is the smoke run `./dev test` makes: one sample of bare FastAPI and one function per table, no
warm-up, targets printed but not enforced (its figures mean nothing).

Each sample is a fresh interpreter that imports the module the platform imports first (Lambda: the handler
module or, under the Web Adapter, the app uvicorn loads; Vercel: the api/ file) and reports the import time,
its peak RSS and which heavy modules it pulled in. Medians over the runs; one untimed warm-up run per row
fills the bytecode cache. Target: at most 1.3x bare FastAPI, and no boto3 in functions that do not need AWS.
First answer (import + runtime build + one proxied call): target at most 2x a bare FastAPI app's first answer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.3
FIRST_ANSWER_RATIO = 2.0
HEAVY = (
    "boto3",
    "botocore",
    "aws_lambda_powertools",
    "mangum",
    "uvicorn",
    "redis",
    "openai",
    "anthropic",
    "tiktoken",
    "dashscope",
)

PROBE = """
import json, resource, sys, time
sys.path[:0] = {paths!r}
started = time.perf_counter()
import {module}
seconds = time.perf_counter() - started
heavy = {heavy!r}
print(json.dumps({{
    "seconds": seconds,
    "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "modules": len(sys.modules),
    "loaded": [name for name in heavy if name in sys.modules],
}}))
"""


@dataclass(frozen=True)
class Entry:
    name: str
    module: str
    paths: tuple[str, ...] = ()
    needs_aws: bool = False  # may import boto3 (only when a secret or the DynamoDB store is configured)


def entries() -> list[Entry]:
    found = [Entry("bare fastapi", "fastapi")]
    for function in sorted(p for p in (REPO / "functions").iterdir() if (p / "app.py").is_file()):
        module = "handler" if (function / "handler.py").is_file() else "app"
        found.append(Entry(f"aws {function.name} ({module}.py)", module, (str(function),)))
    for api in sorted((REPO / "api").glob("[!_]*.py")):
        found.append(Entry(f"vercel {api.stem} (api/{api.name})", f"api.{api.stem}", (str(REPO),)))
    return found


def sample(entry: Entry) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "STORE_", "AWS_", "GATEWAY_"))}
    code = PROBE.format(paths=list(entry.paths), module=entry.module, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=entry.paths[0] if entry.paths else REPO,
    )
    if done.returncode != 0:
        raise SystemExit(f"{entry.name}: import failed\n{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(all_entries: list[Entry], runs: int, warm_up: bool = True) -> list[dict[str, object]]:
    """Round-robin over the entries, so load from anything else on the machine hits every row alike."""
    for entry in all_entries if warm_up else []:
        sample(entry)  # warm-up: bytecode cache
    samples: list[list[dict[str, object]]] = [[] for _ in all_entries]
    for _ in range(runs):
        for i, entry in enumerate(all_entries):
            samples[i].append(sample(entry))
    return [
        {
            "ms": statistics.median(float(s["seconds"]) * 1000 for s in rows),  # type: ignore[arg-type]
            "best_ms": min(float(s["seconds"]) * 1000 for s in rows),  # type: ignore[arg-type]
            "rss_mb": statistics.median(int(s["max_rss_kb"]) / 1024 for s in rows),  # type: ignore[call-overload]
            "modules": rows[-1]["modules"],
            "loaded": rows[-1]["loaded"],
        }
        for rows in samples
    ]


def beyond_fastapi(entry: Entry, top: int = 6) -> list[tuple[str, float]]:
    """The biggest imports (cumulative ms, `-X importtime`) an entry adds on top of FastAPI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN_", "STORE_", "AWS_", "GATEWAY_"))}
    code = f"import fastapi, sys; sys.path[:0] = {list(entry.paths)!r}; import {entry.module}"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    costs: list[tuple[str, float]] = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].strip()
        depth = (len(parts[2]) - len(parts[2].lstrip())) // 2
        if depth <= 3 and not name.startswith(("fastapi", "starlette", "pydantic.", "encodings")):
            costs.append((name, int(parts[1]) / 1000))
    return sorted(costs, key=lambda c: -c[1])[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=7, help="fresh interpreters per entry (median; at least 5)"
    )
    parser.add_argument(
        "--first-answer-runs", type=int, default=5, help="fresh servers per row for the first-answer table"
    )
    parser.add_argument("--tiny", action="store_true", help="smoke run: one sample, two rows per table")
    args = parser.parse_args(argv)
    runs = 1 if args.tiny else max(5, args.runs)
    listed = entries()[:2] if args.tiny else entries()
    rows = list(zip(listed, measure(listed, runs, warm_up=not args.tiny), strict=True))
    base = rows[0][1]
    print(f"Cold import, median of {runs} fresh interpreters (Python {sys.version.split()[0]}):\n")
    header = (
        f"{'entry module':34} {'import ms':>9} {'best ms':>8} {'x fastapi':>9} {'max RSS MB':>10} {'x fastapi':>9}"
        f" {'modules':>7}  heavy"
    )
    print(header)
    print("-" * len(header))
    failures = []
    for entry, m in rows:
        ratio_t = float(m["ms"]) / float(base["ms"])  # type: ignore[arg-type]
        ratio_m = float(m["rss_mb"]) / float(base["rss_mb"])  # type: ignore[arg-type]
        loaded = ", ".join(m["loaded"]) or "-"  # type: ignore[arg-type]
        print(
            f"{entry.name:34} {m['ms']:9.1f} {m['best_ms']:8.1f} {ratio_t:9.2f} {m['rss_mb']:10.1f} {ratio_m:9.2f}"
            f" {m['modules']:7}  {loaded}"
        )
        if entry is not rows[0][0]:
            if ratio_t > TARGET_RATIO:
                failures.append(
                    f"{entry.name}: {ratio_t:.2f}x bare FastAPI import time (target {TARGET_RATIO}x)"
                )
            if "boto3" in m["loaded"] and not entry.needs_aws:  # type: ignore[operator]
                failures.append(f"{entry.name}: imports boto3 at module level")
    print()
    for entry, m in rows[1:]:
        state = "YES (unexpected)" if "boto3" in m["loaded"] else "no"  # type: ignore[operator]
        print(f"boto3 in sys.modules after importing {entry.name}: {state}")
    print()
    late = first_answer_table(1 if args.tiny else args.first_answer_runs, tiny=args.tiny)
    print()
    if failures or late:
        print("\n".join(failures + late))
    if failures:
        print("\nWhat the slowest entry imports on top of FastAPI (cumulative ms, one -X importtime run):")
        slowest = max(rows[1:], key=lambda row: float(row[1]["ms"]))[0]  # type: ignore[arg-type]
        for name, ms in beyond_fastapi(slowest):
            print(f"  {ms:7.1f}  {name}")
    if failures or late:
        return 0 if args.tiny else 1
    print(
        f"All entries within {TARGET_RATIO}x of bare FastAPI's import, no boto3; first answers within"
        f" {FIRST_ANSWER_RATIO}x of bare FastAPI's."
    )
    return 0


def first_answer_table(runs: int, tiny: bool = False) -> list[str]:
    """Print each function's time to its first answer beside a bare FastAPI app's; return the targets missed."""
    from first_answer import measure as measure_first_answers

    measured = measure_first_answers(runs, limit=2, warm_up=False) if tiny else measure_first_answers(runs)
    rows = [(target, statistics.median(s) * 1000, min(s) * 1000) for target, s in measured]
    base_ms = rows[0][1]
    print(
        f"Time to first answer, process start to first 200 read, median of {runs} fresh processes"
        " (uvicorn, --lifespan off, as functions/*/run.sh):\n"
    )
    header = f"{'server (first request)':40} {'first answer ms':>15} {'best ms':>8} {'x bare fastapi':>14}"
    print(header)
    print("-" * len(header))
    missed = []
    for target, median_ms, best_ms in rows:
        ratio = median_ms / base_ms
        print(f"{target.name:40} {median_ms:15.1f} {best_ms:8.1f} {ratio:14.2f}")
        if target is not rows[0][0] and ratio > FIRST_ANSWER_RATIO:
            missed.append(
                f"{target.name}: first answer {ratio:.2f}x bare FastAPI's (target {FIRST_ANSWER_RATIO}x)"
            )
    return missed


if __name__ == "__main__":
    raise SystemExit(main())
