"""The JSON metrics (`/v1/metrics`) as Prometheus text, built at scrape time from the same snapshots.

`prometheus_client` is imported here only, when `/metrics` is first scraped, so no function pays for it on
its cold start. Request counts and latency quantiles are this process's (as in `/v1/metrics`); accounts and
scheduler queues come from the store, the view every instance shares.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

STATES = ("ok", "suspect", "cooldown", "ejected", "disabled")


def render(requests: dict[str, Any], accounts: list[dict[str, Any]], scheduler: dict[str, Any]) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector

    class Snapshot(Collector):
        def collect(self) -> Iterator[Any]:
            total = CounterMetricFamily(
                "qwen_gateway_requests", "Requests answered, by route and status", labels=["route", "status"]
            )
            latency = GaugeMetricFamily(
                "qwen_gateway_request_latency_seconds",
                "Recent request latency quantiles by route (this process)",
                labels=["route", "quantile"],
            )
            for route, row in sorted(requests.get("routes", {}).items()):
                for status, count in row["by_status"].items():
                    total.add_metric([route, status], count)
                latency.add_metric([route, "0.5"], row["latency_p50_ms"] / 1000)
                latency.add_metric([route, "0.95"], row["latency_p95_ms"] / 1000)
            yield total
            yield latency
            yield GaugeMetricFamily(
                "qwen_gateway_uptime_seconds",
                "Seconds since this process started",
                value=requests["uptime_s"],
            )
            state = GaugeMetricFamily(
                "qwen_gateway_account_state", "1 for the account's current state", labels=["account", "state"]
            )
            in_flight = GaugeMetricFamily(
                "qwen_gateway_account_in_flight", "Requests an account is serving", labels=["account"]
            )
            outcomes = CounterMetricFamily(
                "qwen_gateway_account_attempts", "Attempts by outcome", labels=["account", "outcome"]
            )
            for row in accounts:
                name = str(row["name"])
                for candidate in STATES:
                    state.add_metric([name, candidate], 1.0 if row["state"] == candidate else 0.0)
                in_flight.add_metric([name], float(row["in_flight"]))
                outcomes.add_metric([name, "success"], float(row["successes"]))
                outcomes.add_metric([name, "failure"], float(row["failures"]))
            yield state
            yield in_flight
            yield outcomes
            queued = GaugeMetricFamily("qwen_gateway_queue_waiting", "Requests queued", labels=["class"])
            busy = GaugeMetricFamily("qwen_gateway_class_in_flight", "Class slots held", labels=["class"])
            for cls, row in sorted(scheduler.items()):
                queued.add_metric([cls], float(row["queued"]))
                busy.add_metric([cls], float(row["in_flight"]))
            yield queued
            yield busy

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot())
    body: bytes = generate_latest(registry)
    return body


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
