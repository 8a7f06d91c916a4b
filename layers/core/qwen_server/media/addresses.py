"""Which addresses a client-given URL may reach: public unicast only.

Private (RFC 1918, unique-local), loopback, link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254
included), carrier-grade NAT, multicast, reserved and unspecified addresses are refused. IPv6 forms that
embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`,
6to4 `2002::/16`) are judged by the IPv4 address inside them.

Before any address, the URL's host itself must be a canonical IP literal or a valid DNS name
(`host_refusal`): `127.1`, `2130706433`, `017700000001`, `0x7f000001` are IPv4 addresses to a browser, to
`inet_aton` and to some HTTP clients, which would connect to them without asking the resolver (and its checks).
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPAT = ipaddress.ip_network("::/96")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# WHATWG URL's "ends in a number": a last label of decimal digits or 0x-hex makes the host an IPv4 address
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def host_refusal(host: str) -> str | None:
    """Why a URL's host (brackets removed) is neither a canonical IP literal nor a DNS name (None: it is one)."""
    if ":" in host:  # IPv6 only appears in brackets, where it has one meaning; a zone id (`%eth0`) is refused
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "not a valid IPv6 address"
        return "an IPv6 address with a zone id" if "%" in host else None
    try:
        ipaddress.IPv4Address(host)  # dotted quad only: leading zeros, fewer parts and numbers are refused
        return None
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host  # one trailing dot: a fully qualified name
    try:
        labels = name.encode("idna").decode("ascii").lower().split(".")
    except UnicodeError:
        return "not a valid host name"
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return "not a valid host name"
    if _NUMBER.fullmatch(labels[-1]):
        return "an IP address in a non-canonical spelling"
    return None


def refusal(address: str) -> str | None:
    """Why the address may not be reached (None: it may). Unparsable text is refused too."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            reason = refusal(str(inner))
            return f"embeds {inner}, which is {reason}" if reason else None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None
