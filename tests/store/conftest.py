"""Fixtures: one real server of each kind per session, and a fresh, isolated store per test and backend."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from qwen_server.store import Store
from qwen_server.store.dynamodb import DynamoDBStore
from qwen_server.store.memory import MemoryStore
from qwen_server.store.redis import RedisStore
from qwen_server.store.sqlite import SQLiteStore
from tests.fake_clock import FakeClock
from tests.services import moto_service, redis_binary, redis_service, redis_url_with
from tests.store.timeline import Timeline

BACKENDS = ["memory", "sqlite", "redis", "dynamodb"]
# seconds per DynamoDB call: one moto server answers every test in turn, slowly on a busy machine (the
# store's own 2 s is meant for DynamoDB itself)
MOTO_TIMEOUT = 15.0


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


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """backend name -> a STORE_URL of a namespace no other test uses (the same URL within one test)."""
    tag = uuid.uuid4().hex[:10]

    def make(backend: str) -> str:
        if backend == "memory":
            return "memory://"
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / 'state' / 'store.db'}"
        if backend == "redis":
            return redis_url_with(request.getfixturevalue("redis_url"), prefix=f"t{tag}:")
        endpoint = request.getfixturevalue("moto_endpoint")
        return f"dynamodb://t{tag}?region=us-east-1&endpoint_url={endpoint}&create=1&timeout={MOTO_TIMEOUT:g}"

    return make


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    """The clock of the memory, SQLite and DynamoDB stores under test: it moves only when a test moves it."""
    return FakeClock(time.time())


@pytest.fixture
def timeline(backend: str, clock: FakeClock) -> Timeline:
    return Timeline(backend, clock)


@pytest.fixture
def new_store(backend: str, store_url: Callable[[str], str], clock: FakeClock) -> Callable[[], Store]:
    """Another instance on the same namespace and clock (memory: the same instance cannot be shared)."""
    url = store_url(backend)
    made: list[Store] = []

    def make() -> Store:
        if backend == "memory":
            s: Store = made[0] if made else MemoryStore(clock=clock)
        elif backend == "sqlite":
            s = SQLiteStore(url[len("sqlite:///") :], clock=clock)
        elif backend == "redis":
            s = RedisStore.from_url(url)
        else:
            parts = urlsplit(url)
            s = DynamoDBStore(
                parts.netloc, region="us-east-1", endpoint_url=parse_qs(parts.query)["endpoint_url"][0],
                create=True, clock=clock, timeout=MOTO_TIMEOUT,
            )  # fmt: skip
        made.append(s)
        return s

    return make


@pytest.fixture
async def store(new_store: Callable[[], Store]) -> AsyncIterator[Store]:
    s = new_store()
    await s.ping()
    yield s
    await s.close()
