"""Glue that only serverless entry points use: secrets at cold start, EMF metrics, the Mangum handler.

A local server never imports this package. Each helper imports its heavy dependency (boto3, Powertools,
Mangum) only where it is used, so a function that needs none of them pays for none of them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def on_lambda() -> bool:
    """True inside our own AWS Lambda sandbox (also under the Web Adapter: uvicorn inherits the environment).

    Vercel runs its functions on Lambda too and may expose the same variables, but CloudWatch EMF means
    nothing there, hence the check for Vercel's own markers.
    """
    if os.environ.get("VERCEL") or os.environ.get("VERCEL_REGION"):
        return False
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def prepare(app: FastAPI) -> FastAPI:
    """What every function's entry module does once: secrets into the environment, EMF metrics on Lambda.

    Runs before the first request, so `Settings` (read lazily by the runtime) already sees the secrets.
    """
    from qwen_server.serverless.secrets import load_secrets

    load_secrets()
    if on_lambda():
        from qwen_server.serverless.metrics import EmfMiddleware

        app.add_middleware(EmfMiddleware)
    return app
