"""The benchmarks that need no server, each once at its smoke size (see smoke.py)."""

from __future__ import annotations

import pytest

from .smoke import LOCAL, run_tiny


@pytest.mark.parametrize("name", LOCAL)
def test_benchmark_completes_and_prints_its_table(name: str) -> None:
    run_tiny(name)
