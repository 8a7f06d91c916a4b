"""The gateway's OSS signer against the emulator's verifier (written separately from the same documentation):
what one signs the other accepts, and any change to what was signed is `SignatureDoesNotMatch`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qwen_server.emulator import oss
from qwen_server.providers.qwen_web import oss_sign

BUCKET, KEY = "qwen-webui-prod", "user0/0b7e-uuid_image-1.png"
CREDS = {"access_key_id": "STS.abc", "access_key_secret": "s3cret", "security_token": "tok-123"}
NOW = datetime(2026, 3, 4, 11, 14, 10, tzinfo=UTC)


def v4() -> dict[str, str]:
    return oss_sign.v4_headers(
        bucket=BUCKET, key=KEY, region="oss-ap-southeast-1", content_type="image/png", now=NOW, **CREDS
    )


def v1() -> dict[str, str]:
    return oss_sign.v1_headers(bucket=BUCKET, key=KEY, content_type="image/png", now=NOW, **CREDS)


def test_v4_is_shaped_as_the_browser_sends_it() -> None:
    headers = v4()
    assert (
        headers["x-oss-date"] == "20260304T111410Z" and headers["x-oss-content-sha256"] == "UNSIGNED-PAYLOAD"
    )
    assert headers["authorization"].startswith(
        "OSS4-HMAC-SHA256 Credential=STS.abc/20260304/ap-southeast-1/oss/aliyun_v4_request,Signature="
    )
    assert oss.access_key_of(headers["authorization"]) == "STS.abc"


@pytest.mark.parametrize(("sign", "version"), [(v4, "v4"), (v1, "v1")])
def test_the_verifier_accepts_what_the_signer_signs(sign: object, version: str) -> None:
    headers = sign()  # type: ignore[operator]
    assert oss.verify("PUT", BUCKET, KEY, headers, "s3cret") == version


@pytest.mark.parametrize("sign", [v4, v1])
@pytest.mark.parametrize(
    "change",
    [
        ("secret", "other"),
        ("key", "user0/someone-else.png"),
        ("bucket", "another-bucket"),
        ("content-type", "image/jpeg"),
        ("x-oss-security-token", "tok-999"),
        ("method", "POST"),
    ],
)
def test_any_change_is_signature_does_not_match(sign: object, change: tuple[str, str]) -> None:
    headers = dict(sign())  # type: ignore[operator]
    args = {"method": "PUT", "bucket": BUCKET, "key": KEY, "secret": "s3cret"}
    field, value = change
    if field in args:
        args[field] = value
    else:
        headers[field] = value
    with pytest.raises(oss.OssRefusal) as caught:
        oss.verify(args["method"], args["bucket"], args["key"], headers, args["secret"])
    assert caught.value.code == "SignatureDoesNotMatch"


def test_a_v1_only_bucket_refuses_v4_and_the_error_is_oss_xml() -> None:
    with pytest.raises(oss.OssRefusal) as caught:
        oss.verify("PUT", BUCKET, KEY, v4(), "s3cret", accept_v4=False)
    body = oss.error_xml(caught.value.code, caught.value.message, "RID")
    assert b"<Code>SignatureDoesNotMatch</Code>" in body
    assert oss.verify("PUT", BUCKET, KEY, v1(), "s3cret", accept_v4=False) == "v1"
