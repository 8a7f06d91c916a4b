"""Real servers for the scheduler tests, started once per session (helpers live in tests/services.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import moto_service, redis_binary, redis_service


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    with redis_service() as url:
        yield url


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_service() as endpoint:
        yield endpoint
