"""CloudWatch metrics as EMF log lines, on Lambda only: requests, latency and server errors per route,
and one cold-start count per sandbox.

Why EMF: CloudWatch turns a JSON line on stdout into metrics, so the request path makes no API call.
`qwen_server.serverless.prepare` adds this middleware only on Lambda, and Powertools is imported on the
first request, so no other platform ever imports it. Each request gets its own EMF provider (not the
shared `Metrics` singleton): overlapping requests, e.g. under the Web Adapter, never mix their metrics.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NAMESPACE = "QwenApiServer"
SERVICE = "qwen-api-server"
_REQUEST_CONTEXT = b"x-amzn-request-context"
log = logging.getLogger("qwen_server.serverless")


def _behind_web_adapter() -> bool:
    return os.environ.get("AWS_LAMBDA_EXEC_WRAPPER") == "/opt/bootstrap"


class EmfMiddleware:
    """Times each HTTP request to the end of its body (a whole stream, for streaming routes)."""

    def __init__(self, app: ASGIApp, namespace: str | None = None, service: str | None = None) -> None:
        self.app = app
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE
        self.readiness_path = (
            os.environ.get("AWS_LWA_READINESS_CHECK_PATH") if _behind_web_adapter() else None
        )
        self.cold = True
        self.enabled = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_readiness_probe(scope):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # the same dict the app's own middleware and routes fill in
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.emit(str(state.get("route", "unmatched")), status, time.perf_counter() - started)

    def _is_readiness_probe(self, scope: Scope) -> bool:
        """The Web Adapter's own health checks (before and between invocations) are not requests to count.

        Invocations it forwards carry the Lambda request context in a header; its probes do not.
        """
        if not self.readiness_path or scope["path"] != self.readiness_path:
            return False
        return not any(name == _REQUEST_CONTEXT for name, _ in scope.get("headers", []))

    def emit(self, route: str, status: int, seconds: float) -> None:
        """Print the request's EMF line (and the cold-start line once); a metrics bug never fails a request."""
        if not self.enabled:
            return
        try:
            self._emit(route, status, seconds)
        except ImportError as exc:
            self.enabled = False
            log.warning("EMF metrics are off: aws-lambda-powertools is not importable (%s)", exc)

    def _emit(self, route: str, status: int, seconds: float) -> None:
        from aws_lambda_powertools.metrics.exceptions import (
            MetricResolutionError,
            MetricUnitError,
            MetricValueError,
            SchemaValidationError,
        )
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.exceptions import MetricNameError

        try:
            request = self._provider()
            request.add_dimension(name="route", value=route)
            request.add_metric(name="Requests", unit="Count", value=1)
            request.add_metric(name="ServerErrors", unit="Count", value=1 if status >= 500 else 0)
            request.add_metric(name="Latency", unit="Milliseconds", value=round(seconds * 1000, 3))
            request.add_metadata(key="status", value=status)
            request.flush_metrics()
            if self.cold:
                self.cold = False
                cold = self._provider()
                cold.add_dimension(
                    name="function_name", value=os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "unknown"
                )
                cold.add_metric(name="ColdStart", unit="Count", value=1)
                cold.flush_metrics()
        except (
            MetricNameError,
            MetricResolutionError,
            MetricUnitError,
            MetricValueError,
            SchemaValidationError,
        ) as exc:
            log.warning("EMF metrics for %s were dropped: %s", route, exc)

    def _provider(self) -> Any:
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
            AmazonCloudWatchEMFProvider,
        )

        return AmazonCloudWatchEMFProvider(namespace=self.namespace, service=self.service)
