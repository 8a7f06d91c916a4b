"""Fixtures for the images group: the emulator and the gateway as processes, and clients per gateway key."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.images.media_helpers import KEYS, Recording, client_for
from tests.processes import Service, emulator_accounts, start_emulator, start_gateway


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "11", "--video-seconds", "0.5", accounts=2)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def gateway(emulator: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    store = tmp_path_factory.mktemp("store") / "state.db"
    env = {
        "GATEWAY_API_KEYS": ",".join(KEYS),
        "STORE_URL": f"sqlite:///{store}",
        "VIDEO_POLL_SECONDS": "0.2",
        "CRON_SECRET": "cron-secret",
        "VIDEO_TICK_SECONDS": "3600",
    }
    service = start_gateway(env, accounts=emulator_accounts(emulator, 2))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def recording() -> Recording:
    return Recording()


@pytest.fixture
def alice(gateway: Service, recording: Recording) -> openai.OpenAI:
    return client_for(gateway, KEYS[0], recording)


@pytest.fixture
def bob(gateway: Service, recording: Recording) -> openai.OpenAI:
    return client_for(gateway, KEYS[1], recording)
