"""The media URL guard: only public addresses, unless a host is explicitly allowed."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from archiver.errors import ConnectorError, SkippableError
from connectors.http.guard import BlockedURLError, check_connected_peer, check_public_url


def resolver_for(*addresses: str):  # type: ignore[no-untyped-def]
    """A getaddrinfo stand-in: no real DNS in tests."""

    def resolve(host: str, port: int, *args: object) -> list[tuple]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return resolve


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1/a.jpg", "loopback"),
        ("http://10.1.2.3/a.jpg", "private"),
        ("http://192.168.0.10/a.jpg", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:8080/a.jpg", "loopback"),
        ("http://[::ffff:127.0.0.1]/a.jpg", "loopback"),
        ("http://[fe80::1]/a.jpg", "link-local"),
        ("http://0.0.0.0/a.jpg", "unspecified"),
        ("http://224.0.0.1/a.jpg", "multicast"),
        ("http://240.0.0.1/a.jpg", "reserved"),
        ("http://100.64.0.1/a.jpg", "not globally routable"),
    ],
)
def test_non_public_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(BlockedURLError, match=reason) as caught:
        check_public_url(url)
    assert isinstance(caught.value, SkippableError)
    assert isinstance(caught.value, ConnectorError)
    assert caught.value.address is not None


def test_localhost_name_is_resolved_and_refused() -> None:
    with pytest.raises(BlockedURLError, match="loopback"):
        check_public_url("http://localhost/a.jpg")


def test_explicitly_allowed_ip_passes() -> None:
    addresses = check_public_url("http://127.0.0.1:8080/a.jpg", allow_hosts=["127.0.0.1"])
    assert addresses == [ipaddress.ip_address("127.0.0.1")]


def test_allowing_one_ip_does_not_allow_others() -> None:
    with pytest.raises(BlockedURLError):
        check_public_url("http://10.0.0.5/a.jpg", allow_hosts=["127.0.0.1"])


def test_allowed_network_and_hostname() -> None:
    check_public_url("http://10.9.8.7/a.jpg", allow_hosts=["10.0.0.0/8"])
    check_public_url(
        "http://media.internal/a.jpg",
        allow_hosts=["Media.Internal"],
        resolver=resolver_for("10.0.0.9"),
    )
    check_public_url("http://[::1]/a.jpg", allow_hosts=["[::1]"])


def test_allow_private_turns_the_check_off() -> None:
    check_public_url("http://192.168.1.1/a.jpg", allow_private=True)


def test_public_host_passes() -> None:
    found = check_public_url("https://cdn.example/a.jpg", resolver=resolver_for("93.184.216.34"))
    assert found == [ipaddress.ip_address("93.184.216.34")]


def test_any_private_answer_refuses_the_host() -> None:
    # The connection could use any of the answers, so one private one is enough to refuse.
    with pytest.raises(BlockedURLError, match="private"):
        check_public_url(
            "https://cdn.example/a.jpg", resolver=resolver_for("93.184.216.34", "10.0.0.1")
        )


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://cdn.example/a",
        "gopher://h/",
        "//cdn.example/a.jpg",
        "http:///a.jpg",
    ],
)
def test_only_http_with_a_host(url: str) -> None:
    with pytest.raises(BlockedURLError):
        check_public_url(url, resolver=resolver_for("93.184.216.34"))


def test_unresolvable_host_is_refused() -> None:
    def fail(*args: object) -> list[tuple]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(BlockedURLError, match="cannot resolve"):
        check_public_url("https://nowhere.invalid/a.jpg", resolver=fail)


def test_secrets_in_the_url_are_redacted_in_the_error() -> None:
    with pytest.raises(BlockedURLError) as caught:
        check_public_url("http://10.0.0.1/a.jpg?sig=abcdef123")
    assert "abcdef123" not in str(caught.value)


def test_connected_peer_is_checked() -> None:
    with pytest.raises(BlockedURLError, match="connected to loopback"):
        check_connected_peer("http://cdn.example/a.jpg", "127.0.0.1")
    check_connected_peer("http://cdn.example/a.jpg", "93.184.216.34")
    check_connected_peer("http://cdn.example/a.jpg", "127.0.0.1", allow_hosts=["127.0.0.1"])
    check_connected_peer("http://cdn.example/a.jpg", None)
