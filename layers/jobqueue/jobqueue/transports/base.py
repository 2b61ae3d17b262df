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


@dataclass(frozen=True)
class SendResult:
    """The provider's id for a message it accepted."""

    provider_message_id: str


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
    """Base class of the errors a transport raises when a send fails."""


class TransientDeliveryError(DeliveryError):
    """The send failed but may succeed later (throttling, timeout, 5xx): retry with backoff."""


class PermanentDeliveryError(DeliveryError):
    """The send cannot succeed (no address on file, rejected recipient, 4xx): do not retry."""
