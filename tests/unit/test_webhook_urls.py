"""Webhook URL checks and signatures. No test here opens a connection."""

from __future__ import annotations

import hashlib
import hmac
import socket

import pytest

from jobqueue.transports import PermanentDeliveryError, TransientDeliveryError
from jobqueue.transports.webhook import check_url, sign


@pytest.fixture(autouse=True)
def no_connections(monkeypatch):
    """Fail any test that tries to open a socket connection."""

    def fail_connection(*args, **kwargs):
        raise AssertionError(f"a connection was attempted: {args!r}")

    monkeypatch.setattr(socket, "create_connection", fail_connection)
    monkeypatch.setattr(socket.socket, "connect", fail_connection)


def resolver(*addresses: str):
    """Return a getaddrinfo stand-in that resolves every name to ``addresses``."""

    def resolve(host, port, type=0):
        results = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
            results.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return results

    return resolve


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://10.0.0.1/hook", "a private address"),
        ("https://192.168.1.20/hook", "a private address"),
        ("https://100.64.0.1/hook", "a private address"),
        ("https://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("https://[fd00:ec2::254]/latest/", "a cloud metadata address"),
        ("https://169.254.10.1/", "a link-local address"),
        ("https://127.0.0.1:8443/hook", "a loopback address"),
        ("https://[::1]:8443/hook", "a loopback address"),
        ("https://[::ffff:10.0.0.1]/hook", "a private address"),
        ("https://[fd12:3456::1]/hook", "a private address"),
        ("https://224.0.0.1/hook", "a multicast address"),
        ("https://0.0.0.0/hook", "a reserved address"),
        ("https://240.0.0.1/hook", "a reserved address"),
    ],
)
def test_check_url_blocked_address_rejected(url, fragment):
    with pytest.raises(PermanentDeliveryError) as raised:
        check_url(url)

    assert fragment in str(raised.value)
    assert "WEBHOOK_ALLOWED_HOSTS" in str(raised.value)


def test_check_url_localhost_rejected():
    # Resolves through the system resolver, which reads /etc/hosts: a lookup, not a connection.
    with pytest.raises(PermanentDeliveryError, match="a loopback address"):
        check_url("https://localhost:8443/hook")


@pytest.mark.parametrize("addresses", [("10.1.2.3",), ("93.184.216.34", "10.1.2.3"), ("2606:2800::1", "::1")])
def test_check_url_name_with_private_address_rejected(addresses):
    with pytest.raises(PermanentDeliveryError, match="resolves to"):
        check_url("https://hooks.example.com/x", resolve=resolver(*addresses))


def test_check_url_public_name_accepted():
    checked = check_url("https://hooks.example.com/services/T1?x=1", resolve=resolver("93.184.216.34", "2606:2800::1"))

    assert checked.scheme == "https"
    assert checked.host == "hooks.example.com"
    assert checked.port == 443
    assert checked.target == "/services/T1?x=1"
    assert checked.addresses == ("93.184.216.34", "2606:2800::1")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://hooks.example.com/x", "uses http"),
        ("ftp://hooks.example.com/x", "must be an https:// URL"),
        ("https:///x", "must be an https:// URL"),
        ("https://user:secret@hooks.example.com/x", "user name or password"),
        ("https://hooks.example.com:99999/x", "invalid"),
    ],
)
def test_check_url_invalid_rejected(url, fragment):
    with pytest.raises(PermanentDeliveryError) as raised:
        check_url(url, resolve=resolver("93.184.216.34"))

    assert fragment in str(raised.value)
    assert "secret" not in str(raised.value)


def test_check_url_allowed_host_accepted():
    checked = check_url("http://127.0.0.1:8443/hook", [("127.0.0.1", 8443)])

    assert checked.scheme == "http"
    assert checked.addresses == ("127.0.0.1",)


def test_check_url_allowed_host_without_port():
    checked = check_url(
        "https://internal.example.com/hook", [("internal.example.com", None)], resolve=resolver("10.0.0.5")
    )

    assert checked.addresses == ("10.0.0.5",)


def test_check_url_allowed_host_other_port_rejected():
    with pytest.raises(PermanentDeliveryError, match="a loopback address"):
        check_url("https://127.0.0.1:9000/hook", [("127.0.0.1", 8443)])


def test_check_url_allowed_metadata_still_rejected():
    with pytest.raises(PermanentDeliveryError, match="a cloud metadata address"):
        check_url("http://169.254.169.254/latest/", [("169.254.169.254", None)])


def test_check_url_unresolvable_is_transient():
    def fail(host, port, type=0):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(TransientDeliveryError, match="cannot resolve the webhook host 'nowhere.example'"):
        check_url("https://nowhere.example/x", resolve=fail)


def test_sign_matches_hmac_of_timestamp_and_body():
    body = b'{"a":1}'

    signature = sign("s3cret", 1700000000, body)

    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
