"""qwen_server.serverless.secrets: pointers in the environment, values from Secrets Manager / SSM (moto)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from qwen_server.serverless.secrets import SecretsError, load_secrets
from tests.serverless.serverless_support import FAKE_AWS, REGION, REPO, clean_env


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def put_secret(value: str) -> str:
    return str(
        boto3.client("secretsmanager", region_name=REGION).create_secret(Name="qwen", SecretString=value)[
            "ARN"
        ]
    )


def test_nothing_configured_touches_nothing() -> None:
    env = {"PATH": "/bin"}
    assert load_secrets(env) == []
    assert env == {"PATH": "/bin"}


def test_secrets_manager_json_object_into_env(aws: None) -> None:
    accounts = [{"email": "a@example.com", "password": "pw"}]
    arn = put_secret(json.dumps({"QWEN_ACCOUNTS": accounts, "GATEWAY_API_KEYS": "k1,k2"}))
    env = {"QWEN_SECRETS_ID": arn, "GATEWAY_API_KEYS": "stale"}
    assert load_secrets(env) == ["GATEWAY_API_KEYS", "QWEN_ACCOUNTS"]
    assert json.loads(env["QWEN_ACCOUNTS"]) == accounts, "non-string values arrive as JSON"
    assert env["GATEWAY_API_KEYS"] == "k1,k2", "the secret is the source of truth"


def test_ssm_parameters_with_decryption(aws: None) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/qwen/accounts", Value='[{"email": "a@b.c"}]', Type="SecureString")
    ssm.put_parameter(Name="/qwen/keys", Value="key-1", Type="SecureString")
    env = {"QWEN_SSM_PARAMETERS": "QWEN_ACCOUNTS=/qwen/accounts, GATEWAY_API_KEYS=/qwen/keys"}
    assert load_secrets(env) == ["GATEWAY_API_KEYS", "QWEN_ACCOUNTS"]
    assert env["QWEN_ACCOUNTS"] == '[{"email": "a@b.c"}]' and env["GATEWAY_API_KEYS"] == "key-1"


def test_more_than_ten_ssm_parameters_are_batched(aws: None) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    pairs = []
    for i in range(12):
        ssm.put_parameter(Name=f"/qwen/p{i}", Value=f"v{i}", Type="SecureString")
        pairs.append(f"QWEN_SETTING_{i}=/qwen/p{i}")
    env = {"QWEN_SSM_PARAMETERS": ",".join(pairs)}
    assert len(load_secrets(env)) == 12 and env["QWEN_SETTING_11"] == "v11"


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("not json", "is not JSON"),
        ('["a list"]', "must be a JSON object"),
        ('{"AWS_SECRET_ACCESS_KEY": "x"}', "may not set 'AWS_SECRET_ACCESS_KEY'"),
        ('{"lower_case": "x"}', "may not set 'lower_case'"),
    ],
)
def test_bad_secrets_stop_the_cold_start(aws: None, secret: str, message: str) -> None:
    env = {"QWEN_SECRETS_ID": put_secret(secret)}
    with pytest.raises(SecretsError, match=message):
        load_secrets(env)
    assert set(env) == {"QWEN_SECRETS_ID"}, "nothing half-loaded"


def test_missing_secret_and_parameters_name_what_is_missing(aws: None) -> None:
    with pytest.raises(SecretsError, match="ResourceNotFoundException"):
        load_secrets({"QWEN_SECRETS_ID": "no-such-secret"})
    with pytest.raises(SecretsError, match="/qwen/absent"):
        load_secrets({"QWEN_SSM_PARAMETERS": "QWEN_ACCOUNTS=/qwen/absent"})
    with pytest.raises(SecretsError, match="NAME=/parameter/name"):
        load_secrets({"QWEN_SSM_PARAMETERS": "QWEN_ACCOUNTS"})


def test_settings_read_afterwards_see_the_secret(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from qwen_server.config import get_settings

    monkeypatch.setenv("GATEWAY_API_KEYS", "")  # first touch: monkeypatch restores the original afterwards
    get_settings.cache_clear()
    assert get_settings().gateway_keys() == frozenset()
    monkeypatch.setenv("QWEN_SECRETS_ID", put_secret('{"GATEWAY_API_KEYS": "from-the-secret"}'))
    try:
        load_secrets()
        assert get_settings().gateway_keys() == frozenset({"from-the-secret"}), "cached settings dropped"
    finally:
        get_settings.cache_clear()


def test_entry_modules_do_not_import_boto3_without_a_secret() -> None:
    code = (
        "import sys; sys.path.insert(0, 'functions/chat'); import app; "
        "print('boto3' in sys.modules, 'aws_lambda_powertools' in sys.modules, 'mangum' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False"]
