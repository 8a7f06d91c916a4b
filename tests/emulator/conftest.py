"""One shared emulator process for most tests (reset between tests); special ones start their own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.emulator.emulator_harness import WebClient, emulator_process


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    with emulator_process("--accounts", "3", "--seed", "7") as base:
        yield base


@pytest.fixture
def emu(emulator_url: str) -> Iterator[str]:
    """The shared emulator, with counters, scripts and knobs back to the start-up state around each test."""
    with httpx.Client(base_url=emulator_url, verify=False) as http:
        http.post("/_emulator/reset", json={"all": True})
        yield emulator_url
        http.post("/_emulator/reset", json={"all": True})


@pytest.fixture
def client(emu: str) -> Iterator[WebClient]:
    web = WebClient(emu, 0)
    assert web.signin().status_code == 200
    yield web
    web.close()
