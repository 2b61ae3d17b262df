"""WEBHOOK and SLACK delivery: a signed HTTPS POST to a checked address.

Before anything is sent, the URL is checked and its host resolved once:

- the scheme must be ``https``; ``http`` is accepted only for a host that
  ``WEBHOOK_ALLOWED_HOSTS`` names;
- every address the host resolves to must be a public (globally routable)
  unicast address. Loopback, private, link-local, shared, multicast and
  reserved addresses are rejected unless ``WEBHOOK_ALLOWED_HOSTS`` names
  the host (and port). Cloud metadata addresses are rejected even then;
- the connection goes to one of the checked addresses, never to a second
  lookup of the name, so a DNS answer that changes between the check and
  the connection cannot redirect the request. TLS still verifies the
  certificate against the host name from the URL, and the Host header
  names it too.

Redirects are not followed, because a redirect could point anywhere.

Every request carries three headers (see README "Notifications"):
``X-Jobqueue-Delivery`` (the job id, the same on every retry),
``X-Jobqueue-Timestamp`` (Unix seconds) and ``X-Jobqueue-Signature``
(``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` under the
webhook's secret).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jobqueue.transports.base import PermanentDeliveryError, TransientDeliveryError

DELIVERY_HEADER = "X-Jobqueue-Delivery"
TIMESTAMP_HEADER = "X-Jobqueue-Timestamp"
SIGNATURE_HEADER = "X-Jobqueue-Signature"
SIGNATURE_PREFIX = "sha256="
USER_AGENT = "jobqueue-webhook/1"
# Only the status matters, so at most this much of a response body is read.
MAX_RESPONSE_BYTES = 64 * 1024
# Retrying these statuses may succeed: timeout, too early, throttling (and every 5xx).
RETRYABLE_STATUSES = frozenset({408, 425, 429})
# How long a read of the webhook secret is cached, so a rotated secret is picked up.
SECRET_MAX_AGE_SECONDS = 300

# Instance metadata and credential endpoints of cloud providers. These are
# never contacted, even for a host in WEBHOOK_ALLOWED_HOSTS.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS EC2, Azure, Google Cloud, and others
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.170.23",  # AWS EKS Pod Identity
        "fd00:ec2::254",  # AWS EC2 over IPv6
        "fd00:ec2::23",  # AWS EKS Pod Identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)

Resolver = Callable[..., Sequence[tuple[Any, ...]]]


@dataclass(frozen=True)
class WebhookAddress:
    """A checked webhook URL and the addresses its host resolved to."""

    scheme: str
    host: str
    port: int
    target: str
    addresses: tuple[str, ...]


def check_url(
    url: str,
    allowed_hosts: Sequence[tuple[str, int | None]] = (),
    *,
    resolve: Resolver | None = None,
) -> WebhookAddress:
    """Check ``url`` and resolve its host once; return where to connect.

    Raises ``PermanentDeliveryError`` when the URL is invalid, not https,
    or resolves to an address that is not allowed, and
    ``TransientDeliveryError`` when the name cannot be resolved right now.
    Never opens a connection.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise PermanentDeliveryError(f"the webhook URL is invalid ({exc}); fix the webhook's url") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise PermanentDeliveryError("the webhook URL must be an https:// URL with a host; fix the webhook's url")
    if parts.username is not None or parts.password is not None:
        raise PermanentDeliveryError("the webhook URL must not contain a user name or password; remove them")
    port = port or (443 if parts.scheme == "https" else 80)
    allowed = _is_allowed(host, port, allowed_hosts)
    if parts.scheme == "http" and not allowed:
        raise PermanentDeliveryError(
            f"the webhook URL for host {host!r} uses http; use https "
            f"(http is accepted only for hosts listed in WEBHOOK_ALLOWED_HOSTS)"
        )

    addresses = _resolve(host, port, resolve or socket.getaddrinfo)
    for address in addresses:
        problem = _address_problem(address, allowed)
        if problem:
            raise PermanentDeliveryError(
                f"the webhook host {host!r} resolves to {address}, {problem}; webhooks go only to public "
                f"addresses unless WEBHOOK_ALLOWED_HOSTS lists the host"
            )
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return WebhookAddress(parts.scheme, host, port, target, tuple(str(address) for address in addresses))


def _is_allowed(host: str, port: int, allowed_hosts: Sequence[tuple[str, int | None]]) -> bool:
    return any(host == allowed_host and allowed_port in (None, port) for allowed_host, allowed_port in allowed_hosts)


def _resolve(host: str, port: int, resolve: Resolver) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        results = resolve(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransientDeliveryError(f"cannot resolve the webhook host {host!r}: {exc.strerror or exc}") from None
    addresses = []
    for family, _, _, _, sockaddr in results:
        if family in (socket.AF_INET, socket.AF_INET6):
            # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the zone is no part of the address.
            address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            if address not in addresses:
                addresses.append(address)
    if not addresses:
        raise TransientDeliveryError(f"the webhook host {host!r} resolved to no IP address")
    return addresses


def _address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allowed: bool) -> str | None:
    # Python 3.11 judges an IPv4-mapped IPv6 address (::ffff:10.0.0.1) by its
    # IPv6 range, so judge the IPv4 address it carries.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if allowed:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified or address.is_reserved:
        return "a reserved address"
    if address.is_private or not address.is_global:
        return "a private address"
    return None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header value: ``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def encode_body(body: dict[str, Any]) -> bytes:
    """Serialize a JSON body the way it is signed and sent: compact, UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def post(
    address: WebhookAddress,
    body: bytes,
    *,
    delivery_id: str,
    secret: str | None,
    timeout_seconds: float,
    ssl_context: ssl.SSLContext,
) -> int:
    """POST ``body`` to the checked address; return the 2xx status.

    Raises ``TransientDeliveryError`` for a timeout, a connection failure,
    408, 425, 429 or a 5xx status, and ``PermanentDeliveryError`` for any
    other status (3xx included) or a certificate that fails verification.
    """
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)

    connection = _connection(address, timeout_seconds, ssl_context)
    try:
        connection.request("POST", address.target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        status = response.status
    except ssl.SSLCertVerificationError as exc:
        raise PermanentDeliveryError(
            f"the webhook host {address.host!r} presented a certificate that failed verification "
            f"({exc.verify_message}); the receiver must serve a valid certificate for its host name"
        ) from None
    except TimeoutError:
        raise TransientDeliveryError(
            f"the webhook host {address.host!r} timed out after {timeout_seconds:g} s"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise TransientDeliveryError(
            f"the POST to webhook host {address.host!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        connection.close()

    if 200 <= status < 300:
        return status
    if status >= 500 or status in RETRYABLE_STATUSES:
        raise TransientDeliveryError(f"the webhook host {address.host!r} responded with HTTP {status}")
    raise PermanentDeliveryError(
        f"the webhook host {address.host!r} responded with HTTP {status}; check the webhook's url "
        f"and that the receiver accepts the signature (redirects are not followed)"
    )


def _connection(
    address: WebhookAddress, timeout_seconds: float, ssl_context: ssl.SSLContext
) -> http.client.HTTPConnection:
    if address.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            address.host, address.port, timeout=timeout_seconds, context=ssl_context
        )
    else:
        connection = http.client.HTTPConnection(address.host, address.port, timeout=timeout_seconds)

    # http.client opens its socket through _create_connection with the host
    # name; hand it the checked addresses instead, so no second DNS lookup
    # happens. HTTPSConnection still wraps the socket with the host name,
    # which sets SNI and checks the certificate against it.
    def create_connection(_host_port, timeout, source_address=None):
        return _connect_first(address.addresses, address.port, timeout, source_address)

    connection._create_connection = create_connection
    return connection


def _connect_first(addresses: Sequence[str], port: int, timeout: float, source_address) -> socket.socket:
    error = OSError("the webhook host resolved to no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout, source_address)
        except OSError as exc:
            error = exc
    raise error


# -- secrets -------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookSecret:
    """One webhook's entry in the webhook secret: its signing secret, and its URL when the row has none."""

    signing_secret: str | None = None
    url: str | None = None

    def __repr__(self) -> str:
        return "WebhookSecret(...)"


def read_webhook_secret(secret_arn: str | None, webhook_id: str) -> WebhookSecret:
    """Return the entry for ``webhook_id`` from the JSON secret ``secret_arn`` (read through Powertools, cached).

    The secret maps webhook ids to either the signing secret, or an object
    ``{"signingSecret": ..., "url": ...}`` with either key optional.
    Returns an empty ``WebhookSecret`` when no secret is configured or it
    has no entry for the webhook. Error messages never contain secret values.
    """
    if secret_arn is None:
        return WebhookSecret()
    # Imported here: only a process that sends webhooks needs boto3.
    from aws_lambda_powertools.utilities import parameters

    try:
        secrets = parameters.get_secret(secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    except parameters.exceptions.TransformParameterError:
        raise PermanentDeliveryError(
            f'the webhook secret {secret_arn!r} is not a JSON object; store {{"<webhook id>": "<signing secret>"}}'
        ) from None
    except parameters.exceptions.GetParameterError as exc:
        raise TransientDeliveryError(
            f"cannot read the webhook secret {secret_arn!r}: {exc}; check WEBHOOK_SECRETS_ARN and that the "
            f"function's role may call secretsmanager:GetSecretValue on it"
        ) from None
    if not isinstance(secrets, dict):
        raise PermanentDeliveryError(
            f'the webhook secret {secret_arn!r} is not a JSON object; store {{"<webhook id>": "<signing secret>"}}'
        )

    entry = secrets.get(webhook_id)
    if entry is None:
        return WebhookSecret()
    if isinstance(entry, str) and entry:
        return WebhookSecret(signing_secret=entry)
    if isinstance(entry, dict):
        signing_secret = entry.get("signingSecret")
        url = entry.get("url")
        if (signing_secret is None or (isinstance(signing_secret, str) and signing_secret)) and (
            url is None or isinstance(url, str)
        ):
            return WebhookSecret(signing_secret=signing_secret, url=url)
    raise PermanentDeliveryError(
        f"the entry for webhook {webhook_id!r} in the webhook secret is invalid; use a non-empty string "
        f"(the signing secret) or an object with the string keys signingSecret and url"
    )
