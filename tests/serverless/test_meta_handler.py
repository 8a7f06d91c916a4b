"""The meta function's Mangum handler, invoked with synthetic REST API (payload 1.0), HTTP API and Function URL events,
in a Lambda-like process, against the emulator as its upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.processes import Service, emulator_accounts, start_emulator
from tests.serverless.serverless_support import (
    FAKE_AWS,
    REGION,
    body_json,
    emf_lines,
    function_url_event,
    http_api_event,
    invoke,
    lambda_env,
    rest_api_event,
    start_moto,
    stop,
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "7", accounts=2)
    yield service
    service.stop()


def assert_openai_error(response: dict[str, Any], status: int) -> dict[str, Any]:
    assert response["statusCode"] == status, response
    error = body_json(response)["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert {"message", "type", "param", "code"} <= set(error)
    return dict(error)


def test_http_api_and_function_url_events(emulator: Service) -> None:
    env = lambda_env(
        "qwen-meta",
        STORE_URL="memory://",
        QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 2)),
    )
    events = [
        http_api_event("GET", "/health"),
        http_api_event("GET", "/v1/models"),
        http_api_event("GET", "/v1/models/qwen3-max", "/v1/models/{model_id+}"),
        function_url_event("GET", "/v1/models", headers={"anthropic-version": "2023-06-01"}),
        function_url_event("GET", "/health"),
        http_api_event("GET", "/v1/models/no-such-model", "/v1/models/{model_id+}"),
        http_api_event("GET", "/v1/nowhere"),
        function_url_event("POST", "/v1/models", body='{"x": 1}', encode_body=True),
    ]
    result = invoke("meta", events, env)
    health, models, model, anthropic_models, url_health, missing, unknown, wrong_method = result["responses"]

    assert health["statusCode"] == 200 and body_json(health)["status"] == "ok"
    assert health["headers"]["content-type"] == "application/json"
    assert health["headers"]["x-request-id"].startswith("req_")
    ids = {m["id"] for m in body_json(models)["data"]}
    assert {"qwen3-max", "qwen3-coder-plus"} <= ids
    assert body_json(model)["id"] == "qwen3-max" and body_json(model)["object"] == "model"
    assert all(m["type"] == "model" for m in body_json(anthropic_models)["data"])
    assert url_health["statusCode"] == 200

    assert assert_openai_error(missing, 404)["param"] == "model"
    assert assert_openai_error(unknown, 404)["code"] == "unknown_url"
    assert assert_openai_error(wrong_method, 405)["code"] == "method_not_allowed"

    assert result["modules"]["boto3"] is False, "no secrets and a memory store: boto3 must stay unloaded"
    assert result["modules"]["aws_lambda_powertools"] is True, "on Lambda the logger and EMF use Powertools"


def test_emf_metrics_on_lambda(emulator: Service) -> None:
    env = lambda_env("qwen-meta", STORE_URL="memory://", QWEN_ACCOUNTS="[]")
    result = invoke("meta", [http_api_event("GET", "/health"), http_api_event("GET", "/v1/nowhere")], env)
    metrics = emf_lines(result["stdout"])
    requests = [m for m in metrics if "Requests" in m]
    assert [(m["route"], m["status"]) for m in requests] == [("/health", 200), ("unmatched", 404)]
    assert all(m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "QwenApiServer" for m in metrics)
    assert requests[0]["Latency"][0] > 0 and requests[0]["ServerErrors"] == [0.0]
    cold = [m for m in metrics if "ColdStart" in m]
    assert len(cold) == 1 and cold[0]["function_name"] == "qwen-meta", "one cold start per sandbox"


def test_no_emf_off_lambda(emulator: Service) -> None:
    env = lambda_env("qwen-meta", STORE_URL="memory://")
    del env["AWS_LAMBDA_FUNCTION_NAME"]
    result = invoke("meta", [http_api_event("GET", "/health")], env)
    assert result["responses"][0]["statusCode"] == 200
    assert emf_lines(result["stdout"]) == []
    assert result["modules"]["aws_lambda_powertools"] is False


def test_deployed_shape_secrets_manager_and_dynamodb(emulator: Service) -> None:
    """As template.yaml configures it: accounts and keys in a secret, state in the pk/sk table."""
    endpoint, moto = start_moto()
    try:
        aws = {"endpoint_url": endpoint, "region_name": REGION, **_credentials()}
        secret = boto3.client("secretsmanager", **aws).create_secret(
            Name="qwen/runtime",
            SecretString=json.dumps(
                {"QWEN_ACCOUNTS": emulator_accounts(emulator, 2), "GATEWAY_API_KEYS": "key-one,key-two"}
            ),
        )
        dynamodb = boto3.client("dynamodb", **aws)
        dynamodb.create_table(
            TableName="qwen-state",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        dynamodb.update_time_to_live(
            TableName="qwen-state", TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True}
        )
        env = lambda_env(
            "qwen-meta",
            STORE_URL=f"dynamodb://qwen-state?region={REGION}",
            QWEN_SECRETS_ID=secret["ARN"],
            AWS_ENDPOINT_URL=endpoint,
        )
        auth = {"authorization": "Bearer key-two"}
        result = invoke(
            "meta",
            [
                http_api_event("GET", "/v1/models"),
                http_api_event("GET", "/v1/models", headers=auth),
                http_api_event("GET", "/v1/metrics", headers=auth),
            ],
            env,
        )
    finally:
        stop(moto)
    unauthorised, models, metrics = result["responses"]
    assert assert_openai_error(unauthorised, 401)
    assert "qwen3-max" in {m["id"] for m in body_json(models)["data"]}
    report = body_json(metrics)
    assert len(report["accounts"]) == 2, "accounts came from the secret"
    assert "password0" not in json.dumps(report)
    assert not any("password" in line for line in result["stdout"]), "secret values never logged"
    assert result["modules"]["boto3"] is True


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": FAKE_AWS["AWS_SESSION_TOKEN"],
    }


def test_a_lambda_without_gateway_keys_fails_closed(emulator: Service) -> None:
    env = lambda_env(
        "qwen-meta",
        STORE_URL="memory://",
        QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 1)),
        ALLOW_ANONYMOUS="false",
    )
    events = [
        http_api_event("GET", "/health"),
        http_api_event("GET", "/v1/models"),
        function_url_event("GET", "/v1/models/qwen3-max"),
        http_api_event("GET", "/v1/metrics"),
    ]
    health, models, model, metrics = invoke("meta", events, env)["responses"]
    assert health["statusCode"] == 200
    for response in (models, model, metrics):
        error = assert_openai_error(response, 401)
        assert error["code"] == "gateway_keys_required" and "AWS Lambda" in error["message"]
    keyed = dict(env, GATEWAY_API_KEYS="lambda-key")
    listed = invoke("meta", [http_api_event("GET", "/v1/models", headers={"x-api-key": "lambda-key"})], keyed)
    assert listed["responses"][0]["statusCode"] == 200


def test_rest_api_events_reach_the_public_paths(emulator: Service) -> None:
    """The one REST API (template.yaml) sends payload 1.0 events; the stage stays out of the app's path."""
    env = lambda_env(
        "qwen-meta",
        STORE_URL="memory://",
        QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 1)),
        GATEWAY_API_KEYS="rest-key",
    )
    key = {"x-api-key": "rest-key"}
    events = [
        rest_api_event("GET", "/health"),
        rest_api_event("GET", "/v1/models", headers=key),
        rest_api_event("GET", "/v1/models/qwen3-max", "/v1/models/{model_id+}", headers=key),
        rest_api_event("GET", "/openapi.json"),
        rest_api_event("GET", "/v1/models"),
    ]
    health, models, model, contract, anonymous = invoke("meta", events, env)["responses"]
    assert health["statusCode"] == 200
    assert "qwen3-max" in {m["id"] for m in body_json(models)["data"]}
    assert body_json(model)["id"] == "qwen3-max"
    assert "/v1/chat/completions" in body_json(contract)["paths"]
    assert_openai_error(anonymous, 401)


def test_the_admin_page_and_its_views_through_the_rest_api(emulator: Service) -> None:
    """The meta function serves the admin page, its assets and the views it reads behind the stage; the
    page's URLs are relative, so the browser stays under /prod/ (tests/e2e/test_admin_page.py drives it)."""
    env = lambda_env(
        "qwen-meta",
        STORE_URL="memory://",
        QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 2)),
        GATEWAY_API_KEYS="rest-key",
        ADMIN_API_KEYS="rest-admin-key",
    )
    admin = {"authorization": "Bearer rest-admin-key"}
    events = [
        rest_api_event("GET", "/admin"),
        rest_api_event("GET", "/admin/assets/admin.css"),
        rest_api_event("GET", "/admin/assets/admin.js"),
        rest_api_event("GET", "/admin/accounts", headers=admin),
        rest_api_event("GET", "/admin/queues", headers=admin),
        rest_api_event("GET", "/admin/usage/recent", headers=admin),
        rest_api_event("GET", "/admin/errors", headers=admin),
        rest_api_event("GET", "/admin/errors", headers={"authorization": "Bearer rest-key"}),
    ]
    page, css, script, accounts, queues, usage, errors, refused = invoke("meta", events, env)["responses"]
    assert page["statusCode"] == 200 and 'src="admin/assets/admin.js"' in page["body"]
    headers = {k.lower(): v for k, v in page["headers"].items()}
    assert headers["x-frame-options"] == "DENY" and "script-src 'self'" in headers["content-security-policy"]
    assert css["statusCode"] == 200 and "svg.bar" in css["body"]
    assert script["statusCode"] == 200 and "sessionStorage" in script["body"]
    assert {row["name"] for row in body_json(accounts)["data"]} == {"emu0", "emu1"}
    assert "chat" in body_json(queues)["classes"]
    assert body_json(usage)["hour"]["data"] == [] and body_json(errors)["data"] == []
    assert_openai_error(refused, 403)
