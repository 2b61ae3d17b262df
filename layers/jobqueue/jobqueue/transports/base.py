"""The transport interface: what a NOTIFICATION job hands to a delivery channel.

A transport sends one ``Delivery`` and returns a ``SendResult``, or raises
``TransientDeliveryError`` (the job retries with backoff) or
``PermanentDeliveryError`` (the job fails at once and the notification log
records the failure). Any other exception is treated as transient.

Error messages from a transport end up in the job's ``error`` column and in
logs, so they must not contain email addresses, phone numbers or the
message text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from jobqueue.errors import JobQueueError


@dataclass(frozen=True)
class Recipient:
    """The user a notification goes to. Contact details are left out of ``repr``."""

    id: str
    name: str
    email: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class IncidentSummary:
    """The incident a notification is about, with its service's name."""

    id: str
    title: str
    status: str
    urgency: str
    service_name: str | None = None


@dataclass(frozen=True)
class PushDevice:
    """A user's registered device: the ARN of its Amazon SNS platform endpoint."""

    id: str
    endpoint_arn: str = field(repr=False)
    platform: str = ""


@dataclass(frozen=True)
class WebhookTarget:
    """A user's webhook for the WEBHOOK or SLACK channel.

    ``url`` is None when the URL is kept in the webhook secret instead of
    the database. The URL may contain a token (Slack's do), so it is left
    out of ``repr``.
    """

    id: str
    url: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DisabledDevice:
    """A push device whose endpoint the provider reported disabled or deleted."""

    device_id: str
    reason: str


@dataclass(frozen=True)
class Delivery:
    """One message to one user on one channel.

    ``job_id`` identifies the delivery: a transport whose provider accepts
    an idempotency key should pass it, so a job retried after a lost
    commit is not delivered twice. ``incident`` is None when the
    notification is not about an incident, or the incident was deleted.
    """

    job_id: str
    channel: str
    message: str = field(repr=False)
    user: Recipient
    incident: IncidentSummary | None = None
    # PUSH: the user's enabled devices. WEBHOOK and SLACK: the user's webhook.
    devices: tuple[PushDevice, ...] = ()
    webhook: WebhookTarget | None = None


@dataclass(frozen=True)
class SendResult:
    """The provider's id for a message it accepted.

    ``disabled_devices`` lists the push devices the provider reported
    disabled or deleted during the send; the caller disables them.
    """

    provider_message_id: str
    disabled_devices: tuple[DisabledDevice, ...] = ()


@runtime_checkable
class Transport(Protocol):
    """Sends deliveries on every channel it supports.

    One instance serves every NOTIFICATION job of a process, from several
    worker threads at once, so ``send`` must be thread-safe.
    """

    def send(self, delivery: Delivery) -> SendResult:
        """Send ``delivery``; raise ``TransientDeliveryError`` or ``PermanentDeliveryError`` on failure."""
        ...


class DeliveryError(JobQueueError):
    """Base class of the errors a transport raises when a send fails.

    ``disabled_devices`` lists push devices found disabled before the
    failure, so the caller can disable them even when the send fails.
    """

    def __init__(self, message: str, *, disabled_devices: tuple[DisabledDevice, ...] = ()) -> None:
        super().__init__(message)
        self.disabled_devices = disabled_devices


class TransientDeliveryError(DeliveryError):
    """The send failed but may succeed later (throttling, timeout, 5xx): retry with backoff."""


class PermanentDeliveryError(DeliveryError):
    """The send cannot succeed (no address on file, rejected recipient, 4xx): do not retry."""


class NoDeliveryAddress(PermanentDeliveryError):
    """The user has no usable address on the channel (every push device disabled, say).

    The notification is recorded as SKIPPED, not FAILED: nothing is wrong
    with the queue or the provider, and only the user can fix it.
    """
