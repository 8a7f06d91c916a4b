"""What Qwen's BPE vocabulary costs: loading it once, counting with it, and counting a stream as a whole.

    python bench/tokenizer_bench.py [--runs 5] [--tiny]

Loading is measured in fresh interpreters (it happens once per process, on the first count); counting in this
one after a warm-up. The old characters-per-token rule is shown for comparison. Medians over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from qwen_server.core import tokens
from qwen_server.core.qwen_vocab import encoding

LOAD_PROBE = """
import json, time
t0 = time.perf_counter()
from qwen_server.core import qwen_vocab, tokens
t1 = time.perf_counter()
import tiktoken
t2 = time.perf_counter()
ranks = qwen_vocab.read_ranks(qwen_vocab.vocabulary_path())
t3 = time.perf_counter()
qwen_vocab.encoding()
t4 = time.perf_counter()
tokens.count_tokens("warm")
t5 = time.perf_counter()
print(json.dumps({"import qwen_server.core.tokens": t1 - t0, "import tiktoken": t2 - t1,
                  "read ranks (151,643 lines)": t3 - t2, "encoding(): read + build": t4 - t3,
                  "first count after load": t5 - t4}))
"""

TEXTS = {
    "English prose": "The quick brown fox jumps over the lazy dog while the gateway counts every token. "
    * 200,
    "Chinese prose": "通义千问是阿里云研发的超大规模语言模型。能够回答问题、创作文字和编写代码。" * 200,
    "Python code": "def area(r: float) -> float:\n    return 3.14159 * r ** 2  # circle\n\n" * 200,
}


def _median(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _rule(text: str) -> int:
    wide, narrow = tokens._rule(text)
    return tokens._rule_tokens(wide, narrow)


def _streamed(text: str, chunk: int) -> int:
    counter = tokens.TokenCounter()
    for start in range(0, len(text), chunk):
        counter.add(text[start : start + chunk])
        counter.total  # as OutputShaper does for every chunk when max_tokens is set  # noqa: B018
    return counter.total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="smoke run: one run")
    args = parser.parse_args()
    if args.tiny:
        args.runs = 1

    loads = [
        json.loads(subprocess.run([sys.executable, "-c", LOAD_PROBE], capture_output=True, check=True).stdout)
        for _ in range(args.runs)
    ]
    print(f"Loading the vocabulary (fresh interpreter, median of {args.runs})")
    print(f"{'step':<34}{'ms':>10}")
    for step in loads[0]:
        print(f"{step:<34}{statistics.median(run[step] for run in loads) * 1000:>10.1f}")

    enc = encoding()
    assert enc is not None, "the vocabulary did not load: is shared/qwen.tiktoken there?"
    print(f"\nCounting (tokenizer: {tokens.tokenizer()}, median of {args.runs})")
    header = f"{'text':<16}{'chars':>8}{'tokens':>8}{'rule est.':>10}{'count ms':>10}{'Mchar/s':>9}"
    header += f"{'rule ms':>9}{'stream 20ch ms':>16}"
    print(header)
    for name, text in TEXTS.items():
        tokens.count_tokens(text)  # warm-up
        counted = tokens.count_tokens(text)
        assert _streamed(text, 20) == counted, "a streamed count must equal the whole-text count"
        count_s = _median(lambda text=text: tokens.count_tokens(text), args.runs)  # type: ignore[misc]
        rule_s = _median(lambda text=text: _rule(text), args.runs)  # type: ignore[misc]
        stream_s = _median(lambda text=text: _streamed(text, 20), args.runs)  # type: ignore[misc]
        print(
            f"{name:<16}{len(text):>8}{counted:>8}{_rule(text):>10}{count_s * 1000:>10.2f}"
            f"{len(text) / count_s / 1e6:>9.1f}{rule_s * 1000:>9.2f}{stream_s * 1000:>16.2f}"
        )


if __name__ == "__main__":
    main()
