"""The OSS V4 signature of an upload `PUT`, as the web app's OSS SDK computes it (pure)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

USER_AGENT = "aliyun-sdk-js/6.23.0"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_put_headers(
    *,
    bucket: str,
    key: str,
    region: str,
    access_key_id: str,
    access_key_secret: str,
    security_token: str,
    content_type: str,
    now: float | None = None,
) -> dict[str, str]:
    """The headers of a V4-signed `PUT /<key>` with temporary (STS) credentials; `region` without `oss-`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    day = stamp[:8]
    signed = {
        "content-type": content_type,
        "x-oss-content-sha256": "UNSIGNED-PAYLOAD",
        "x-oss-date": stamp,
        "x-oss-security-token": security_token,
        "x-oss-user-agent": USER_AGENT,
    }
    canonical = "\n".join(
        [
            "PUT",
            f"/{bucket}/{quote(key, safe='/')}",
            "",
            "".join(f"{k}:{v}\n" for k, v in sorted(signed.items())),
            "",
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = f"{day}/{region}/oss/aliyun_v4_request"
    to_sign = "\n".join(
        ["OSS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing_key = _hmac(
        _hmac(_hmac(_hmac(("aliyun_v4" + access_key_secret).encode(), day), region), "oss"),
        "aliyun_v4_request",
    )
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        **signed,
        "authorization": f"OSS4-HMAC-SHA256 Credential={access_key_id}/{scope},Signature={signature}",
    }
