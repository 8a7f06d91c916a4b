"""Secrets into the environment at cold start, before `Settings` is first read.

The deployment passes pointers, never values (environment variables show in the console and in
`GetFunctionConfiguration`):

- `QWEN_SECRETS_ID`: a Secrets Manager secret (name or ARN) whose SecretString is a JSON object mapping
  setting names to values, e.g. `{"QWEN_ACCOUNTS": [...], "GATEWAY_API_KEYS": "k1,k2"}`. A value that is
  not a string is stored as compact JSON, so `QWEN_ACCOUNTS` can be a real list.
- `QWEN_SSM_PARAMETERS`: comma-separated `NAME=/parameter/name` pairs read from SSM Parameter Store with
  decryption (SecureString).

boto3 is imported only when one of them is set, so a function configured without either never loads it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

SECRETS_ID = "QWEN_SECRETS_ID"
SSM_PARAMETERS = "QWEN_SSM_PARAMETERS"
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_RESERVED = ("AWS_", "LAMBDA_", "_")
_SSM_BATCH = 10  # GetParameters takes at most ten names

log = logging.getLogger("qwen_server.serverless")
ClientFactory = Callable[[str], Any]


class SecretsError(RuntimeError):
    """The configured secret could not be read or has the wrong shape: the function must not start."""


def load_secrets(
    environ: MutableMapping[str, str] | None = None, client: ClientFactory | None = None
) -> list[str]:
    """Copy the configured secrets into `environ`; returns the names set (values are never logged)."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    secret_id = env.get(SECRETS_ID, "").strip()
    pairs = env.get(SSM_PARAMETERS, "").strip()
    if not secret_id and not pairs:
        return []
    make_client = client or _boto3_client
    if secret_id:
        values.update(_from_secrets_manager(make_client("secretsmanager"), secret_id))
    if pairs:
        values.update(_from_ssm(make_client("ssm"), _parse_pairs(pairs)))
    for name in values:
        _check_name(name)
    env.update(values)
    _forget_cached_settings()
    log.info("loaded %d setting(s) from secrets: %s", len(values), ", ".join(sorted(values)))
    return sorted(values)


def _boto3_client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def _aws_errors() -> tuple[type[Exception], ...]:
    """botocore's error classes, imported only once a secret is actually being read."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _from_secrets_manager(client: Any, secret_id: str) -> dict[str, str]:
    try:
        response = client.get_secret_value(SecretId=secret_id)
    except _aws_errors() as exc:
        raise SecretsError(f"could not read secret {secret_id!r}: {_describe(exc)}") from exc
    raw = response.get("SecretString")
    if raw is None:
        raise SecretsError(f"secret {secret_id!r} has no SecretString; store a JSON object of settings")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SecretsError(f"secret {secret_id!r} is not JSON: {exc.msg} at char {exc.pos}") from None
    if not isinstance(data, dict):
        raise SecretsError(f"secret {secret_id!r} must be a JSON object of setting names to values")
    return {str(k): _as_env_value(v) for k, v in data.items()}


def _from_ssm(client: Any, pairs: dict[str, str]) -> dict[str, str]:
    by_parameter: dict[str, str] = {}
    names = list(pairs.values())
    for start in range(0, len(names), _SSM_BATCH):
        batch = names[start : start + _SSM_BATCH]
        try:
            response = client.get_parameters(Names=batch, WithDecryption=True)
        except _aws_errors() as exc:
            raise SecretsError(f"could not read SSM parameters {batch}: {_describe(exc)}") from exc
        missing = response.get("InvalidParameters") or []
        if missing:
            raise SecretsError(f"SSM parameters not found (or not readable): {', '.join(missing)}")
        for parameter in response.get("Parameters", []):
            by_parameter[parameter["Name"]] = parameter["Value"]
    return {env_name: by_parameter[parameter] for env_name, parameter in pairs.items()}


def _parse_pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, parameter = item.partition("=")
        if not sep or not parameter.strip():
            raise SecretsError(f"{SSM_PARAMETERS} entry {item!r} must look like NAME=/parameter/name")
        pairs[name.strip()] = parameter.strip()
    return pairs


def _check_name(name: str) -> None:
    if not _NAME.match(name) or name.startswith(_RESERVED) or name in (SECRETS_ID, SSM_PARAMETERS):
        raise SecretsError(
            f"a secret may not set {name!r}: use upper-case setting names such as QWEN_ACCOUNTS "
            "(names starting with AWS_, LAMBDA_ or _ are the runtime's)"
        )


def _as_env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _describe(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = error.get("Code")
    return f"{code}: {error.get('Message', exc)}" if code else f"{type(exc).__name__}: {exc}"


def _forget_cached_settings() -> None:
    """Settings read before this point (none, normally) would miss the secrets: drop the cached copy."""
    config = sys.modules.get("qwen_server.config")
    if config is not None:
        config.get_settings.cache_clear()
