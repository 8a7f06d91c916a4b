"""Signing an OSS PUT with the STS credentials `getstsToken` hands out, as the web app's browser SDK does.

V4 (`OSS4-HMAC-SHA256`, what aliyun-sdk-js sends) is the default; V1 (`OSS AK:signature`, HMAC-SHA1) is the
known fallback. Both sign the content type and the `x-oss-*` headers; the payload is unsigned in V4.
Formats from Alibaba Cloud's OSS signature documentation; pure functions, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

USER_AGENT = "aliyun-sdk-js/6.23.0"
UNSIGNED = "UNSIGNED-PAYLOAD"
V4_ALGORITHM = "OSS4-HMAC-SHA256"


def _hmac(key: bytes, text: str, digest: str = "sha256") -> bytes:
    return hmac.new(key, text.encode(), digest).digest()


def region_of(region: str) -> str:
    """`oss-ap-southeast-1` (as the STS answer names it) -> `ap-southeast-1` (as V4 scopes it)."""
    return region.removeprefix("oss-")


def canonical_uri(bucket: str, key: str) -> str:
    return f"/{bucket}/{quote(key, safe='/-_.~')}"


def v4_headers(
    *,
    bucket: str,
    key: str,
    region: str,
    access_key_id: str,
    access_key_secret: str,
    security_token: str,
    content_type: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers of a V4-signed PUT of `key` (Authorization included)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    region = region_of(region)
    headers = {
        "content-type": content_type,
        "x-oss-content-sha256": UNSIGNED,
        "x-oss-date": stamp,
        "x-oss-security-token": security_token,
        "x-oss-user-agent": USER_AGENT,
    }
    canonical_headers = "".join(f"{k}:{v.strip()}\n" for k, v in sorted(headers.items()))
    canonical = f"PUT\n{canonical_uri(bucket, key)}\n\n{canonical_headers}\n\n{UNSIGNED}"
    scope = f"{day}/{region}/oss/aliyun_v4_request"
    to_sign = f"{V4_ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signing_key = _hmac(("aliyun_v4" + access_key_secret).encode(), day)
    for step in (region, "oss", "aliyun_v4_request"):
        signing_key = _hmac(signing_key, step)
    signature = hmac.new(signing_key, to_sign.encode(), "sha256").hexdigest()
    headers["authorization"] = f"{V4_ALGORITHM} Credential={access_key_id}/{scope},Signature={signature}"
    return headers


def v1_headers(
    *,
    bucket: str,
    key: str,
    access_key_id: str,
    access_key_secret: str,
    security_token: str,
    content_type: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers of a V1-signed PUT of `key` (Authorization included)."""
    date = format_datetime((now or datetime.now(UTC)).astimezone(UTC), usegmt=True)
    to_sign = f"PUT\n\n{content_type}\n{date}\nx-oss-security-token:{security_token}\n/{bucket}/{key}"
    signature = base64.b64encode(_hmac(access_key_secret.encode(), to_sign, "sha1")).decode()
    return {
        "content-type": content_type,
        "date": date,
        "x-oss-security-token": security_token,
        "authorization": f"OSS {access_key_id}:{signature}",
    }


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where a `getstsToken` answer says to PUT a file, and the credentials to sign that PUT with."""

    url: str
    bucket: str
    key: str
    region: str
    access_key_id: str
    access_key_secret: str
    security_token: str

    @classmethod
    def from_sts(cls, sts: Mapping[str, Any]) -> UploadTarget:
        url = str(sts["file_url"]).split("?", 1)[0]  # the presigned GET's query is not ours to reuse
        return cls(
            url=url,
            bucket=str(sts.get("bucketname") or urlsplit(url).hostname or "").split(".")[0],
            key=str(sts["file_path"]),
            region=str(sts.get("region") or "oss-ap-southeast-1"),
            access_key_id=str(sts["access_key_id"]),
            access_key_secret=str(sts["access_key_secret"]),
            security_token=str(sts["security_token"]),
        )

    def headers(self, signature: Literal["V4", "V1"], content_type: str) -> dict[str, str]:
        """The PUT's headers, signed as the browser does (V4) or the older way some accounts still take (V1)."""
        if signature == "V4":
            return v4_headers(
                bucket=self.bucket,
                key=self.key,
                region=self.region,
                access_key_id=self.access_key_id,
                access_key_secret=self.access_key_secret,
                security_token=self.security_token,
                content_type=content_type,
            )
        return v1_headers(
            bucket=self.bucket,
            key=self.key,
            access_key_id=self.access_key_id,
            access_key_secret=self.access_key_secret,
            security_token=self.security_token,
            content_type=content_type,
        )


def refused_signature(status: int, body: bytes) -> bool:
    """The store refused the signature itself (so the other signing may be accepted)."""
    return status == 403 and b"SignatureDoesNotMatch" in body


def error_code(body: bytes) -> str | None:
    """The `<Code>` of the store's XML error answer, if it has one."""
    found = re.search(rb"<Code>([^<]{1,80})</Code>", body)
    return found.group(1).decode(errors="replace") if found else None
