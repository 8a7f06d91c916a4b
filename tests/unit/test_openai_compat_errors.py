"""The OpenAI-compatible provider's error mapping, credential check and model listing, over MockTransport."""

from __future__ import annotations

import httpx
import orjson
import pytest

from qwen_server.core import errors
from qwen_server.pool import health
from qwen_server.providers.base import Account
from qwen_server.providers.http import ClientRegistry
from qwen_server.providers.openai_compat import OpenAICompatProvider
from qwen_server.providers.openai_errors import classify, classify_error_object

ACCOUNT = Account(id="ds", kind="dashscope", base_url="https://ds.example/v1", name="ds", api_key="sk-good")
UNPURCHASED = {
    "error": {
        "code": "AccessDenied.Unpurchased",
        "message": "Access to model denied. Please make sure you are eligible for using the model.",
        "type": "AccessDenied.Unpurchased",
    }
}


def provider(handler: httpx.MockTransport) -> OpenAICompatProvider:
    return OpenAICompatProvider(ClientRegistry(transport=handler))


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (403, orjson.dumps(UNPURCHASED), errors.UpstreamForbidden),
        (403, b'{"code": "AccessDenied.Unpurchased", "message": "denied"}', errors.UpstreamForbidden),
        (
            401,
            b'{"error": {"message": "Incorrect API key", "code": "invalid_api_key"}}',
            errors.UpstreamForbidden,
        ),
        (429, b"{}", errors.UpstreamRateLimited),
        (404, b'{"error": {"message": "The model `x` does not exist"}}', errors.UpstreamModelNotFound),
        (503, b"", errors.UpstreamError),
        (400, b'{"error": {"message": "bad"}}', errors.UpstreamBadRequest),
    ],
)
def test_http_errors(status: int, body: bytes, kind: type[errors.GatewayError]) -> None:
    error = classify(status, body, httpx.Headers())
    assert type(error) is kind


def test_a_per_model_refusal_is_retryable_elsewhere_and_names_the_code() -> None:
    error = classify(403, orjson.dumps(UNPURCHASED), httpx.Headers())
    assert error.retryable and "AccessDenied.Unpurchased" in error.message
    assert health.classify(error) is health.FailureKind.FORBIDDEN


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        ({"code": "Throttling.RateQuota", "message": "slow"}, errors.UpstreamRateLimited),
        ({"code": "AccessDenied.Unpurchased", "message": "no"}, errors.UpstreamForbidden),
        ({"type": "server_error", "message": "oops"}, errors.UpstreamError),
        ({"code": "data_inspection_failed", "message": "filtered"}, errors.UpstreamBadRequest),
        ({"code": "BrandNewCode", "message": "?"}, errors.UpstreamUnknownError),
        ("just a string", errors.UpstreamUnknownError),
    ],
)
def test_error_objects_in_a_200_answer(err: object, kind: type[errors.GatewayError]) -> None:
    error = classify_error_object(err)
    assert type(error) is kind
    if kind is errors.UpstreamUnknownError:
        assert not error.retryable and health.classify(error) is health.FailureKind.NEUTRAL


async def test_verify_condemns_only_a_refused_key() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.headers["authorization"] != "Bearer sk-good":
            return httpx.Response(401, json={"error": {"code": "invalid_api_key", "message": "bad key"}})
        return httpx.Response(200, json={"data": [{"id": "qwen-plus"}]})

    good = provider(httpx.MockTransport(answer))
    await good.verify(ACCOUNT)
    assert seen == ["GET /v1/models"]
    bad = Account(id="x", kind="openai", base_url="https://ds.example/v1", name="x", api_key="sk-bad")
    with pytest.raises(errors.UpstreamAuthError, match="HTTP 401"):
        await good.verify(bad)


async def test_verify_is_inconclusive_on_other_failures() -> None:
    down = provider(httpx.MockTransport(lambda r: httpx.Response(503, text="down")))
    with pytest.raises(errors.UpstreamError) as info:
        await down.verify(ACCOUNT)
    assert not isinstance(info.value, errors.UpstreamAuthError)


@pytest.mark.parametrize(
    "body",
    [b"<html>not json</html>", b"[1, 2]", b'{"data": {"id": "x"}}', b'{"object": "list"}', b'"x"'],
)
async def test_a_malformed_listing_is_an_upstream_error(body: bytes) -> None:
    odd = provider(httpx.MockTransport(lambda r: httpx.Response(200, content=body)))
    with pytest.raises(errors.UpstreamError):
        await odd.list_models(ACCOUNT)


async def test_a_listing_skips_entries_without_an_id() -> None:
    body = {"data": [{"id": "a"}, {"name": "no id"}, "junk", {"id": "b", "owned_by": "me"}]}
    mixed = provider(httpx.MockTransport(lambda r: httpx.Response(200, json=body)))
    assert [(m.id, m.owned_by) for m in await mixed.list_models(ACCOUNT)] == [("a", "upstream"), ("b", "me")]
