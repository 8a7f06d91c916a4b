"""The streaming tool-call parser's cost per character, fed one character at a time.

A parser that rescans its buffer on every feed is quadratic: 4x the input would cost ~16x. Printed as a table:
input size, time, characters per second, and the ratio of per-character cost to the smallest size (~1 = linear).
"""

from __future__ import annotations

import itertools
import json
import sys
import time

from qwen_server.core.toolcalls import ToolCallParser


def call_text(size: int) -> str:
    arguments = {"content": "x = 1  # <tag> 'q'\n" * (size // 20)}
    return f"<tool_call>\n{json.dumps({'name': 'write', 'arguments': arguments})}\n</tool_call>"


def cost(size: int) -> float:
    text = call_text(size)
    ids = (f"call_{n}" for n in itertools.count())
    parser = ToolCallParser(lambda: next(ids))
    started = time.perf_counter()
    for ch in text:
        parser.feed(ch)
    parser.finish()
    return time.perf_counter() - started


def main() -> None:
    tiny = "--tiny" in sys.argv[1:]  # the smoke run: small inputs, the same table
    cost(2_000)  # warm up
    sizes = [2_000, 4_000, 8_000] if tiny else [20_000, 80_000, 320_000]
    base = None
    print(f"{'input chars':>12} | {'time':>9} | {'chars/s':>11} | per-char cost vs {sizes[0] // 1000}k")
    for size in sizes:
        took = min(cost(size) for _ in range(3))
        per_char = took / size
        base = base or per_char
        print(f"{size:>12} | {took * 1000:7.1f}ms | {size / took:11,.0f} | {per_char / base:.2f}x")


if __name__ == "__main__":
    main()
