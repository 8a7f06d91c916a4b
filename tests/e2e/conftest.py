"""Fixtures: the emulator and the gateway as real processes, and SDK clients pointed at the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_gateway


@pytest.fixture(scope="session")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "7", accounts=3)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def gateway(emulator: Service) -> Iterator[Service]:
    service = start_gateway(accounts=emulator_accounts(emulator, 3))
    yield service
    service.stop()


@pytest.fixture
def client(gateway: Service) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="any-key", max_retries=0)


@pytest.fixture
def async_client(gateway: Service) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="any-key", max_retries=0)
