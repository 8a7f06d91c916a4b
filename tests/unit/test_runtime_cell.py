"""The runtime an entry point hands to its app: each app answers from its own, a configuration error is a 503
that the next request tries again, and a request that needs no runtime (a 404) does not build one."""

from __future__ import annotations

import httpx

from qwen_server.app.factory import build_app
from qwen_server.app.runtime import RuntimeCell, build_runtime
from qwen_server.config import ConfigError, Settings


def _settings(**values: str) -> Settings:
    return Settings(qwen_accounts="[]", store_url="memory://", **values)


def _client(cell: RuntimeCell) -> httpx.AsyncClient:
    app = build_app(["meta"], cell)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def _model_ids(cell: RuntimeCell) -> set[str]:
    async with _client(cell) as http:
        response = await http.get("/v1/models")
    assert response.status_code == 200, response.text
    return {row["id"] for row in response.json()["data"]}


async def test_each_app_answers_from_the_runtime_it_was_handed() -> None:
    one = RuntimeCell.holding(build_runtime(_settings(model_aliases='{"alias-one": "qwen3-max"}')))
    two = RuntimeCell.holding(build_runtime(_settings(model_aliases='{"alias-two": "qwen3-max"}')))
    first, second = await _model_ids(one), await _model_ids(two)
    assert "alias-one" in first and "alias-two" not in first
    assert "alias-two" in second and "alias-one" not in second


async def test_a_configuration_error_is_a_503_and_the_next_request_builds_again() -> None:
    fixed = False

    def settings() -> Settings:
        if not fixed:
            raise ConfigError("STORE_URL: not a store this gateway knows")
        return _settings()

    cell = RuntimeCell(settings)
    async with _client(cell) as http:
        refused = await http.get("/v1/models")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "gateway_misconfigured"
        assert "STORE_URL" in refused.json()["error"]["message"]
        assert cell.current() is None
        fixed = True
        served = await http.get("/v1/models")
    assert served.status_code == 200, served.text
    assert cell.current() is not None


async def test_a_request_that_needs_no_runtime_does_not_build_one() -> None:
    cell = RuntimeCell(_settings)
    async with _client(cell) as http:
        missing = await http.get("/no/such/route")
        assert missing.status_code == 404
        assert cell.current() is None
        assert (await http.get("/v1/models")).status_code == 200
    assert cell.current() is not None  # the same cell, built by the first request that needed it


def test_the_retry_budget_follows_its_settings() -> None:
    runtime = build_runtime(_settings(retry_budget_ratio="0.5", retry_budget_min="7"))
    gate = runtime.pool.retries
    assert (gate.budget.ratio, gate.budget.minimum) == (0.5, 7)
    gate.active = 20
    assert [gate.try_retry() for _ in range(11)] == [True] * 10 + [False]  # max(7, 0.5 x 20)
