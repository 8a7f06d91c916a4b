"""One access-log line per request, in the form each platform's log view reads best; secrets never included.

- AWS Lambda: the Powertools Logger's JSON line (`level`, `service`, `timestamp`, and the request's fields under
  `message`), which CloudWatch Logs Insights queries field by field. Powertools is imported there only.
- Vercel: one `key=value` line on stdout (`POST /v1/chat/completions 200 412ms request_id=... tenant=...`).
  Vercel's log view files stdout as info and stderr as errors, and shows a request's lines beside it.
- Elsewhere (`serve`, a container): one JSON object per line on stderr.
Fields: request_id, aws_request_id (Lambda), method, route, status, latency_ms, tenant, account, model,
stream, and the tokens (`usage.input_tokens`, `usage.output_tokens`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from functools import cache
from typing import Any, Protocol

import orjson

SECRET_FIELDS = re.compile(r"(password|token|api_key|authorization|secret|cookie)", re.I)


class _LineLogger(Protocol):
    def info(self, msg: Any, *args: Any, **kwargs: Any) -> Any: ...


def apply_debug(debug: bool) -> None:
    """`DEBUG=1`: the gateway's own loggers at debug level, wherever it runs (secrets are never logged).

    `serve` configures logging itself; a Lambda (Web Adapter) or Vercel process may have no handler at all,
    where Python would print warnings only, so one stderr handler is added there.
    """
    if not debug:
        return
    logger = logging.getLogger("qwen_server")
    logger.setLevel(logging.DEBUG)
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)


def redact(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if SECRET_FIELDS.search(k) else v) for k, v in fields.items()}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = getattr(record, "fields", None)
        if isinstance(payload, dict):
            return orjson.dumps({"level": record.levelname, **payload}).decode()
        return orjson.dumps(
            {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        ).decode()


def _flat(value: Any) -> str:
    text = str(value)
    return orjson.dumps(text).decode() if not text or any(c in text for c in ' ="\n') else text


class _KeyValueFormatter(logging.Formatter):
    """`METHOD ROUTE STATUS LATENCYms key=value ...` (nested usage flattened), for Vercel's log view."""

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "fields", None) or {"message": record.getMessage()})
        head = [str(fields.pop(k)) for k in ("method", "route", "status") if k in fields]
        if "latency_ms" in fields:
            head.append(f"{fields.pop('latency_ms')}ms")
        usage = fields.pop("usage", None)
        if isinstance(usage, dict):
            fields.update(usage)
        return " ".join([*head, *(f"{k}={_flat(v)}" for k, v in fields.items() if v is not None)])


def on_vercel() -> bool:
    return bool(os.environ.get("VERCEL") or os.environ.get("VERCEL_REGION"))


@cache
def request_logger() -> _LineLogger:
    if on_vercel():
        logger = logging.getLogger("qwen_server.access")
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(_KeyValueFormatter())
            logger.addHandler(handler)
            logger.propagate = False
            logger.setLevel(logging.INFO)
        return logger
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        try:
            from aws_lambda_powertools import Logger

            return Logger(service="qwen-api-server")
        except ImportError:
            pass
    logger = logging.getLogger("qwen_server.access")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.INFO)
    return logger


def log_request(fields: dict[str, Any]) -> None:
    clean = redact(fields)
    logger = request_logger()
    if isinstance(logger, logging.Logger):
        logger.info("request", extra={"fields": clean})
    else:
        logger.info(clean)
