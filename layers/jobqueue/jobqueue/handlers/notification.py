"""NOTIFICATION jobs: deliver one message to one user on one channel, and log it.

Payload: ``{"incidentId": str | null, "userId": str, "channel": str, "message": str}``.

The message goes out through the transport named by ``NOTIFY_TRANSPORT``
(see ``jobqueue.transports``), and a ``"Notification"`` row records the
result in the job's transaction. Delivery is at least once: a send whose
row never committed (the processor died in between) is sent again on the
next attempt. A job that already committed a SENT row never sends again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from jobqueue.errors import PermanentError, RetryableError
from jobqueue.incident_jobs import CHANNELS
from jobqueue.jobs import Job
from jobqueue.outcomes import Complete, Fail, JobContext, Outcome
from jobqueue.sql import queries
from jobqueue.transports import (
    Delivery,
    IncidentSummary,
    PermanentDeliveryError,
    Recipient,
    TransientDeliveryError,
    get_transport,
)


@dataclass(frozen=True)
class _Request:
    incident_id: str | None
    user_id: str
    channel: str
    message: str


def handle(job: Job, ctx: JobContext) -> Outcome | None:
    """Send the notification unless this job already sent it, and record it in ``"Notification"``.

    Returns ``Complete({"alreadySent": True})`` when a SENT row for this
    job exists, ``Complete({"skipped": ...})`` with a SKIPPED row when the
    user does not exist, and ``Fail`` with a FAILED row when the transport
    rejects the delivery for good or the last attempt fails. A transient
    transport failure on an earlier attempt raises ``RetryableError`` and
    records nothing.
    """
    request = _read_payload(job.payload)
    transport = get_transport(ctx.settings.notify_transport)

    sent = ctx.conn.execute(queries["find_sent_notification"], {"job_id": job.id}).fetchone()
    if sent is not None:
        ctx.logger.info(
            "notification already sent by an earlier attempt; not sending again",
            action="notification_already_sent",
            notification_id=sent["id"],
        )
        return Complete(result={"alreadySent": True, "providerMessageId": sent["provider_message_id"]})

    user = ctx.conn.execute(queries["get_user_contact"], {"user_id": request.user_id}).fetchone()
    incident = None
    if request.incident_id is not None:
        incident = ctx.conn.execute(queries["get_incident_summary"], {"incident_id": request.incident_id}).fetchone()
        if incident is None:
            ctx.logger.info(
                "incident not found; the notification is sent without incident details",
                action="notification_incident_missing",
                incident_id=request.incident_id,
            )
    # The log's foreign keys must point at existing rows, so a deleted
    # incident or user is recorded as NULL. The row's job id still leads to the payload.
    log_entry = _LogEntry(ctx, job.id, request, incident["id"] if incident else None)

    if user is None:
        log_entry.write("SKIPPED", user_id=None, error="user not found")
        ctx.logger.warning(
            "notification skipped: user not found",
            action="notification_skipped",
            user_id=request.user_id,
            incident_id=request.incident_id,
        )
        return Complete(result={"skipped": "user not found", "userId": request.user_id})

    delivery = Delivery(
        job_id=job.id,
        channel=request.channel,
        message=request.message,
        user=Recipient(id=user["id"], name=user["name"], email=user["email"], phone=user["phone"]),
        incident=_summary(incident),
    )
    try:
        result = transport.send(delivery)
    except PermanentDeliveryError as exc:
        # Returned, not raised: the processor keeps a handler's writes only
        # when it returns an outcome, and the FAILED row must be kept.
        log_entry.write("FAILED", user_id=user["id"], error=str(exc))
        return Fail(f"{request.channel} delivery failed permanently: {exc}")
    except TransientDeliveryError as exc:
        if job.attempts >= job.max_attempts:
            log_entry.write("FAILED", user_id=user["id"], error=str(exc))
            return Fail(
                f"{request.channel} delivery failed on the last attempt ({job.attempts} of {job.max_attempts}): {exc}"
            )
        raise RetryableError(f"{request.channel} delivery failed and will be retried: {exc}") from exc

    provider_message_id = getattr(result, "provider_message_id", None)
    log_entry.write("SENT", user_id=user["id"], provider_message_id=provider_message_id)
    return Complete(result={"providerMessageId": provider_message_id})


class _LogEntry:
    """Writes this job's row of the notification log."""

    def __init__(self, ctx: JobContext, job_id: str, request: _Request, incident_id: str | None) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.request = request
        self.incident_id = incident_id

    def write(
        self, status: str, *, user_id: str | None, error: str | None = None, provider_message_id: str | None = None
    ) -> None:
        self.ctx.conn.execute(
            queries["insert_notification"],
            {
                "id": str(uuid.uuid4()),
                "incident_id": self.incident_id,
                "user_id": user_id,
                "channel": self.request.channel,
                "message": self.request.message,
                "status": status,
                "job_id": self.job_id,
                "provider_message_id": provider_message_id,
                "error": error,
                "sent": status == "SENT",
            },
        )


def _read_payload(payload: Any) -> _Request:
    if not isinstance(payload, dict):
        raise PermanentError(f"payload must be a JSON object, got {type(payload).__name__}")

    incident_id = payload.get("incidentId")
    # None is a notification about no incident, such as a test message.
    if incident_id is not None and (not isinstance(incident_id, str) or not incident_id.strip()):
        raise PermanentError(f"payload.incidentId must be a non-empty string or null, got {incident_id!r}")

    user_id = payload.get("userId")
    if not isinstance(user_id, str) or not user_id.strip():
        raise PermanentError(f"payload.userId must be a non-empty string, got {user_id!r}")

    channel = payload.get("channel")
    if channel not in CHANNELS:
        raise PermanentError(f"payload.channel {channel!r} is not a channel; use one of {', '.join(CHANNELS)}")

    # The message text is never put in an error, because errors are logged.
    message = payload.get("message")
    if not isinstance(message, str):
        raise PermanentError(f"payload.message must be a string, got {type(message).__name__}")
    if not message.strip():
        raise PermanentError("payload.message must not be empty")

    return _Request(incident_id, user_id, channel, message)


def _summary(incident: dict[str, Any] | None) -> IncidentSummary | None:
    if incident is None:
        return None
    return IncidentSummary(
        id=incident["id"],
        title=incident["title"],
        status=incident["status"],
        urgency=incident["urgency"],
        service_name=incident["service_name"],
    )
