"""Splitting a batch input file into lines as it streams: the same lines whatever the chunking, and a line
over the limit fails the batch before more of it is held."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_server.batches.create import _LineError, _lines


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _split(parts: list[bytes], max_line: int = 1 << 20) -> list[tuple[int, bytes]]:
    async def run() -> list[tuple[int, bytes]]:
        return [line async for line in _lines(_chunks(parts), max_line)]

    return asyncio.run(run())


@given(st.text(alphabet="ab \n", max_size=200).map(str.encode), st.lists(st.integers(0, 200), max_size=8))
def test_any_chunking_gives_the_lines_of_the_whole(data: bytes, cuts: list[int]) -> None:
    parts, start = [], 0
    for cut in [*sorted({c for c in cuts if c <= len(data)}), len(data)]:
        parts.append(data[start:cut])
        start = cut
    expected = [(i + 1, line) for i, line in enumerate(data.split(b"\n")) if line.strip()]
    assert _split(parts) == expected


def test_a_line_over_the_limit_fails_with_its_number() -> None:
    with pytest.raises(_LineError) as failed:
        _split([b'{"a": 1}\n', b"x" * 6, b"x" * 6, b"\n"], max_line=10)
    assert failed.value.entry["line"] == 2 and failed.value.entry["code"] == "line_too_long"
    assert _split([b"x" * 10, b"\nyy"], max_line=10) == [(1, b"x" * 10), (2, b"yy")]
