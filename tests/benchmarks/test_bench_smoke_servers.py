"""The benchmarks that start servers (gateways, upstreams, Redis), each once at its smoke size (see smoke.py)."""

from __future__ import annotations

import pytest

from .smoke import WITH_SERVERS, run_tiny


@pytest.mark.parametrize("name", WITH_SERVERS)
def test_benchmark_completes_and_prints_its_table(name: str) -> None:
    run_tiny(name)
