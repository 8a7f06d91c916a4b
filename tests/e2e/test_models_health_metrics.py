"""/v1/models, /health and /v1/metrics as clients see them."""

from __future__ import annotations

import httpx
import openai

from tests.processes import Service


def test_models_list_has_upstream_models_and_aliases(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"qwen3-max", "qwen3-coder-plus", "qwq-32b"} <= ids, "the emulator's model list"
    assert "gpt-4o" in ids and "qwen-coder" in ids, "configured aliases"
    model = client.models.retrieve("qwen3-max")
    assert model.id == "qwen3-max" and model.object == "model"
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"


def test_models_in_anthropic_shape(gateway: Service) -> None:
    body = httpx.get(
        f"{gateway.url}/v1/models", headers={"anthropic-version": "2023-06-01"}, timeout=10
    ).json()
    assert body["has_more"] is False
    assert all(m["type"] == "model" and "display_name" in m for m in body["data"])
    assert body["first_id"] == body["data"][0]["id"]


def test_health_is_cheap_and_calls_no_upstream(gateway: Service, emulator: Service) -> None:
    before = httpx.get(f"{emulator.url}/_emulator/stats", timeout=30).json()
    for _ in range(5):
        response = httpx.get(f"{gateway.url}/health", timeout=30)
        assert response.status_code == 200 and response.json()["status"] == "ok"
    after = httpx.get(f"{emulator.url}/_emulator/stats", timeout=30).json()
    assert sum(a["completions"] + a["signins"] for a in after["accounts"].values()) == sum(
        a["completions"] + a["signins"] for a in before["accounts"].values()
    )


def test_metrics_report_routes_accounts_and_scheduler(client: openai.OpenAI, gateway: Service) -> None:
    client.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "metric me"}])
    metrics = httpx.get(f"{gateway.url}/v1/metrics", timeout=30).json()
    chat = metrics["routes"]["/v1/chat/completions"]
    assert chat["requests"] >= 1 and chat["by_status"].get("200", 0) >= 1
    assert chat["latency_p95_ms"] >= chat["latency_p50_ms"] > 0
    assert len(metrics["accounts"]) == 3
    account = metrics["accounts"][0]
    assert {"id", "name", "kind", "in_flight"} <= set(account)
    assert "password" not in str(metrics) and "password0" not in str(metrics)
    chat_class = metrics["scheduler"]["chat"]
    assert {"in_flight", "queued", "admitted", "rejected"} <= set(chat_class)
    assert chat_class["admitted"] >= 1
