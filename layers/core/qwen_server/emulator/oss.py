"""Pure: the emulated OSS bucket's check of a signed PUT, written from Alibaba Cloud's OSS signature
documentation (independently of the gateway's signer, so one can catch the other's mistakes).

V4 (`OSS4-HMAC-SHA256 Credential=AK/<day>/<region>/oss/aliyun_v4_request[,AdditionalHeaders=...],
Signature=<hex>`) signs content-type, content-md5 and every `x-oss-*` header; V1 (`OSS AK:<base64>`)
signs the verb, content-md5, content-type, Date and the `x-oss-*` headers. A mismatch is
`SignatureDoesNotMatch`, as the real service answers (403, an XML error body).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

V4_PREFIX = "OSS4-HMAC-SHA256 "
V1_PREFIX = "OSS "


class OssRefusal(Exception):
    """(code, message) of an OSS error answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_xml(code: str, message: str, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{code}</Code>\n  <Message>{message}</Message>\n"
        f"  <RequestId>{request_id}</RequestId>\n  <HostId>emulator</HostId>\n</Error>\n"
    ).encode()


def access_key_of(authorization: str) -> str:
    """The access key id an Authorization header claims (either version)."""
    if authorization.startswith(V4_PREFIX):
        fields = _v4_fields(authorization)
        return fields.get("Credential", "").split("/", 1)[0]
    if authorization.startswith(V1_PREFIX):
        return authorization[len(V1_PREFIX) :].rpartition(":")[0]
    raise OssRefusal("AccessDenied", "The authorization header is missing or of an unknown kind.")


def _v4_fields(authorization: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in authorization[len(V4_PREFIX) :].split(","):
        name, _, value = item.strip().partition("=")
        fields[name] = value
    return fields


def _signed_headers(headers: Mapping[str, str], additional: list[str]) -> list[tuple[str, str]]:
    chosen = {
        name: value.strip()
        for name, value in headers.items()
        if name in ("content-type", "content-md5") or name.startswith("x-oss-") or name in additional
    }
    return sorted(chosen.items())


def _hmac(key: bytes, message: str, digest: str = "sha256") -> bytes:
    return hmac.new(key, message.encode("utf-8"), digest).digest()


def expected_v4(
    method: str, bucket: str, key: str, headers: Mapping[str, str], secret: str, authorization: str
) -> str:
    fields = _v4_fields(authorization)
    scope_parts = fields.get("Credential", "").split("/")
    if len(scope_parts) != 5 or scope_parts[3:] != ["oss", "aliyun_v4_request"]:
        raise OssRefusal("InvalidArgument", "The credential scope is malformed.")
    day, region = scope_parts[1], scope_parts[2]
    stamp = headers.get("x-oss-date", "")
    if not stamp.startswith(day):
        raise OssRefusal("InvalidArgument", "x-oss-date does not match the credential's date.")
    additional = [h.strip().lower() for h in fields.get("AdditionalHeaders", "").split(";") if h.strip()]
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in _signed_headers(headers, additional))
    payload = headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
    request = "\n".join(
        [
            method,
            "/" + quote(f"{bucket}/{key}", safe="/~"),
            "",  # no query string
            canonical_headers,
            ";".join(additional),
            payload,
        ]
    )
    scope = f"{day}/{region}/oss/aliyun_v4_request"
    string_to_sign = "\n".join(
        ["OSS4-HMAC-SHA256", stamp, scope, hashlib.sha256(request.encode()).hexdigest()]
    )
    signing = _hmac(f"aliyun_v4{secret}".encode(), day)
    for part in (region, "oss", "aliyun_v4_request"):
        signing = _hmac(signing, part)
    return hmac.new(signing, string_to_sign.encode(), hashlib.sha256).hexdigest()


def expected_v1(method: str, bucket: str, key: str, headers: Mapping[str, str], secret: str) -> str:
    oss_headers = "".join(f"{k}:{v}\n" for k, v in _signed_headers(headers, []) if k.startswith("x-oss-"))
    string_to_sign = (
        f"{method}\n{headers.get('content-md5', '')}\n{headers.get('content-type', '')}\n"
        f"{headers.get('date', '')}\n{oss_headers}/{bucket}/{key}"
    )
    return base64.b64encode(_hmac(secret.encode(), string_to_sign, "sha1")).decode()


def verify(
    method: str,
    bucket: str,
    key: str,
    headers: Mapping[str, str],
    secret: str,
    *,
    accept_v4: bool = True,
    accept_v1: bool = True,
) -> str:
    """The signature version that checked out ("v4" / "v1"); `OssRefusal` otherwise. `headers` are
    lower-cased names."""
    authorization = headers.get("authorization", "")
    if authorization.startswith(V4_PREFIX):
        claimed = _v4_fields(authorization).get("Signature", "")
        if not accept_v4 or not hmac.compare_digest(
            claimed, expected_v4(method, bucket, key, headers, secret, authorization)
        ):
            raise OssRefusal(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        return "v4"
    if authorization.startswith(V1_PREFIX):
        claimed = authorization[len(V1_PREFIX) :].rpartition(":")[2]
        if not accept_v1 or not hmac.compare_digest(
            claimed, expected_v1(method, bucket, key, headers, secret)
        ):
            raise OssRefusal(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        return "v1"
    raise OssRefusal("AccessDenied", "The authorization header is missing or of an unknown kind.")
