"""The guarded fetcher's address and URL checks (the resolver and redirects run end to end in
tests/e2e/test_media_input.py)."""

from __future__ import annotations

import pytest

from qwen_server.media.addresses import host_refusal, refusal
from qwen_server.media.fetch import FetchPolicy, FetchRefused, _check_url

REFUSED = [
    "127.0.0.1",
    "127.255.0.9",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.251",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fd00:ec2::254",  # the metadata service over IPv6
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "fe80::1%eth0",
    "not-an-address",
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2606:4700::1111"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refusal(address) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None


def test_the_reason_names_the_embedded_address() -> None:
    assert refusal("::ffff:10.0.0.1") == "embeds 10.0.0.1, which is a private address"


@pytest.mark.parametrize(
    "host",
    [
        "127.1",
        "2130706433",
        "017700000001",
        "0x7f000001",
        "0X7F000001",
        "0x7f.1",
        "0177.0.0.1",
        "127.000.000.001",
        "127.0.0.1.",
        "2852039166",
        "example.123",
        "a..b",
        "-bad.example",
        "under score.example",
        "fe80::1%eth0",
        "x" * 64 + ".example",
    ],
)
def test_hosts_that_are_not_canonical_ips_or_dns_names(host: str) -> None:
    assert host_refusal(host) is not None


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "8.8.8.8", "::1", "example.com", "example.com.", "cdn-1.example", "bücher.de", "0x.io"]
)
def test_canonical_ips_and_dns_names_are_hosts(host: str) -> None:
    assert host_refusal(host) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/a.png",
        "http://127.1/a.png",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:pw@example.com/a.png",
        "http:///a.png",
        "http://127.0.0.1/a.png",
        "http://[::ffff:7f00:1]/a.png",
        "https://169.254.169.254/",
        "http://example.com:99999/a.png",
        "http://[::1/a.png",
    ],
)
def test_urls_refused_before_any_connection(url: str) -> None:
    with pytest.raises(FetchRefused) as caught:
        _check_url(url, FetchPolicy(), "messages.0.content.1.image_url.url")
    assert caught.value.status == 400 and caught.value.param == "messages.0.content.1.image_url.url"


def test_allowlist_and_opt_out() -> None:
    listed = FetchPolicy(allowed_hosts=frozenset({"127.0.0.1:8080", "files.internal"}))
    _check_url("http://127.0.0.1:8080/a.png", listed, "p")
    assert listed.trusts("files.internal", 443) and not listed.trusts("127.0.0.1", 8081)
    with pytest.raises(FetchRefused):
        _check_url("http://127.0.0.1:8081/a.png", listed, "p")
    _check_url("http://10.0.0.5/a.png", FetchPolicy(allow_private=True), "p")
    _check_url("https://example.com/a.png", FetchPolicy(), "p")  # names are checked by the resolver
