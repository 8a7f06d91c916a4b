"""One JSON line per request, secrets never included.

On Lambda (and when aws-lambda-powertools is installed) the Powertools Logger writes the line, so CloudWatch
gets its usual fields; elsewhere a stdlib logger writes the same JSON. Powertools is imported lazily, only there.
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


@cache
def request_logger() -> _LineLogger:
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
