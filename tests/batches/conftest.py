"""Fixtures for the files and batches tests: the emulator as a real process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.processes import Service, start_emulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "7", accounts=3)
    yield service
    service.stop()
