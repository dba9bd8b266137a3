"""Refuse to fetch media from addresses that are not on the public internet.

Media URLs come from platform payloads, i.e. from strangers: without this guard a
post could make the archiver fetch http://169.254.169.254/ (cloud metadata) or an
admin page on the local network and store the answer (server-side request forgery).

Refusal raises `BlockedURLError`, a `SkippableError`: one bad media URL skips that
media item, is recorded with its reason, and the rest of the capture carries on.

Limits (DNS rebinding): we resolve the name here and requests resolves it again
when it connects, so a hostile DNS server could answer "public" to us and "private"
to requests. `check_connected_peer` narrows that gap by checking the address the
socket actually connected to before the body is read; the request line and headers
have by then been sent, but nothing from a private address is stored. Closing the
gap fully needs connecting to the checked IP ourselves (pinning), which breaks
TLS hostname checks with plain requests; a proxy that enforces egress rules is the
right tool for hostile networks.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from archiver.errors import SkippableError

from .redact import redact_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple]]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedURLError(SkippableError):
    """A URL was refused: wrong scheme, or it resolves to a non-public address."""

    def __init__(self, url: str, reason: str, address: str | None = None) -> None:
        self.url = url  # already redacted by the raiser
        self.reason = reason
        self.address = address
        super().__init__(
            f"refused to fetch {url}: {reason}; if this host is trusted, add it to the "
            "connector's allowed media hosts"
        )


def non_public_reason(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address, or None if it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        # Catches what the flags above miss, e.g. 100.64.0.0/10 (carrier-grade NAT).
        ("not globally routable", not address.is_global),
    )
    for reason, hit in checks:
        if hit:
            return reason
    return None


def _parse_allowed(allow_hosts: Iterable[str]) -> tuple[set[str], list[IPNetwork]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in allow_hosts:
        entry = entry.strip().lower().strip("[]")
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.rstrip("."))
    return names, networks


def _is_allowed(address: IPAddress, networks: list[IPNetwork]) -> bool:
    return any(address in net for net in networks if net.version == address.version)


def check_public_url(
    url: str,
    *,
    allow_hosts: Iterable[str] = (),
    allow_private: bool = False,
    resolver: Resolver = socket.getaddrinfo,
) -> list[IPAddress]:
    """Raise `BlockedURLError` unless `url` is http(s) and every address it resolves to
    is public, or the host is allowed; return the resolved addresses.

    `allow_hosts` holds host names, IP addresses or CIDR networks ("127.0.0.1",
    "10.0.0.0/8", "media.internal"); `allow_private` turns the address check off.
    Every resolved address must pass, since the connection may use any of them.
    """
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise BlockedURLError(shown, f"scheme {parts.scheme or '(none)'!r} is not http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedURLError(shown, "no host in URL")
    names, networks = _parse_allowed(allow_hosts)
    if host.lower() in names:
        allow_private = True
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError as exc:
        raise BlockedURLError(shown, f"invalid port: {exc}") from exc
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise BlockedURLError(shown, f"cannot resolve host {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id ("fe80::1%eth0")
        address = ipaddress.ip_address(raw)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise BlockedURLError(shown, f"host {host!r} resolved to no address")
    if not allow_private:
        for address in addresses:
            reason = non_public_reason(address)
            if reason and not _is_allowed(address, networks):
                raise BlockedURLError(shown, f"{host} resolves to {reason} address", str(address))
    return addresses


def check_connected_peer(
    url: str,
    peer: str | None,
    *,
    allow_hosts: Iterable[str] = (),
    allow_private: bool = False,
) -> None:
    """Re-check the address the connection actually reached (see module notes on rebinding).

    `peer` is None when the transport does not expose it; then there is nothing to check.
    """
    if peer is None or allow_private:
        return
    parts = urlsplit(url)
    names, networks = _parse_allowed(allow_hosts)
    if (parts.hostname or "").rstrip(".").lower() in names:
        return
    address = ipaddress.ip_address(peer.split("%", 1)[0])
    reason = non_public_reason(address)
    if reason and not _is_allowed(address, networks):
        raise BlockedURLError(redact_url(url), f"connected to {reason} address", str(address))
