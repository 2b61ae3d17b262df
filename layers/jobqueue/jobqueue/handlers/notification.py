"""NOTIFICATION jobs: deliver one message to one user on one channel, and log it.

Payload: ``{"incidentId": str | null, "userId": str, "channel": str,
"message": str, "source": str (optional)}``. ``"source": "escalation"``
marks a notification an escalation step sent: the policy chose its
channel, so the user's per-channel preferences do not apply to it.

The message goes out through the transport named by ``NOTIFY_TRANSPORT``
(see ``jobqueue.transports``). The job keeps one row in ``"Notification"``,
which moves like this:

- SENDING, committed in its own short transaction just before the
  provider is called, so a processor that dies after the provider
  accepted the message still leaves evidence;
- then, in the job's transaction, one of: SENT with the provider's
  message id; FAILED after a permanent error or on the last attempt;
  RETRYING after a transient error, when the job runs again after its
  backoff; SKIPPED when the user is gone, turned the channel off, or has
  no address on it.

A job that finds a SENT row completes without sending again. A job that
finds a SENDING row knows an earlier attempt died between calling the
provider and committing its result. It cannot tell whether the provider
accepted the message, so it sends again: a page sent twice is better than
a page lost. That window is the remaining at-least-once behaviour.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from jobqueue.backoff import retry_delay_seconds
from jobqueue.errors import PermanentError
from jobqueue.incident_jobs import CHANNELS
from jobqueue.jobs import Job
from jobqueue.outcomes import Complete, Fail, JobContext, Outcome, RetryAfter
from jobqueue.sql import queries
from jobqueue.transports import (
    Delivery,
    DisabledDevice,
    IncidentSummary,
    NoDeliveryAddress,
    PermanentDeliveryError,
    PushDevice,
    Recipient,
    TransientDeliveryError,
    WebhookTarget,
    get_transport,
)
from jobqueue.transports.content import normalize_e164

ESCALATION_SOURCE = "escalation"
# The "User" column that turns each channel on or off. WEBHOOK and SLACK
# are turned off through the "Webhook" row's own enabled flag instead.
PREFERENCE_COLUMNS = {"EMAIL": "email_enabled", "SMS": "sms_enabled", "PUSH": "push_enabled"}


@dataclass(frozen=True)
class _Request:
    incident_id: str | None
    user_id: str
    channel: str
    message: str
    source: str | None


def handle(job: Job, ctx: JobContext) -> Outcome | None:
    """Send the notification unless this job already sent it, and record it in ``"Notification"``.

    Returns, with the log row it writes:

    - ``Complete({"alreadySent": True, ...})`` when a SENT row for this job exists;
    - ``Complete({"skipped": reason})`` and SKIPPED when the user does not
      exist, turned the channel off or has no address on it;
    - ``Fail`` and FAILED when the delivery fails for good or on the last attempt;
    - ``RetryAfter`` (the job's backoff) and RETRYING after a transient failure;
    - otherwise ``Complete({"providerMessageId": ...})`` and SENT.
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
    previous = ctx.conn.execute(queries["find_latest_notification"], {"job_id": job.id}).fetchone()

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
    log_entry = _LogEntry(ctx, job.id, request, incident["id"] if incident else None, previous)

    if user is None:
        log_entry.write("SKIPPED", user_id=None, error="user not found")
        ctx.logger.warning(
            "notification skipped: user not found",
            action="notification_skipped",
            user_id=request.user_id,
            incident_id=request.incident_id,
        )
        return Complete(result={"skipped": "user not found", "userId": request.user_id})

    skip_reason = _preference_skip_reason(request, user)
    devices: tuple[PushDevice, ...] = ()
    webhook = None
    if skip_reason is None:
        skip_reason, devices, webhook = _find_address(ctx, request, user)
    if skip_reason is not None:
        return _skip(ctx, log_entry, request, user["id"], skip_reason)
    if request.channel == "SMS" and normalize_e164(user["phone"]) is None:
        error = (
            "the user's phone number is not in E.164 format (a + and the country code, up to 15 digits, "
            "such as +14155550100); fix the phone number"
        )
        log_entry.write("FAILED", user_id=user["id"], error=error)
        return Fail(f"SMS delivery failed permanently: {error}")

    delivery = Delivery(
        job_id=job.id,
        channel=request.channel,
        message=request.message,
        user=Recipient(id=user["id"], name=user["name"], email=user["email"], phone=user["phone"]),
        incident=_summary(incident),
        devices=devices,
        webhook=webhook,
    )
    resent = previous is not None and previous["status"] == "SENDING"
    if resent:
        ctx.logger.warning(
            "an earlier attempt ended while sending this notification; sending again, so the user may get it twice",
            action="notification_resent",
            notification_id=previous["id"],
        )
    log_entry.mark_sending(user_id=user["id"])

    try:
        result = transport.send(delivery)
    except NoDeliveryAddress as exc:
        _disable_devices(ctx, getattr(exc, "disabled_devices", ()))
        return _skip(ctx, log_entry, request, user["id"], str(exc))
    except PermanentDeliveryError as exc:
        _disable_devices(ctx, getattr(exc, "disabled_devices", ()))
        # Returned, not raised: the processor keeps a handler's writes only
        # when it returns an outcome, and the FAILED row must be kept.
        log_entry.write("FAILED", user_id=user["id"], error=str(exc))
        return Fail(f"{request.channel} delivery failed permanently: {exc}")
    except TransientDeliveryError as exc:
        _disable_devices(ctx, getattr(exc, "disabled_devices", ()))
        if job.attempts >= job.max_attempts:
            log_entry.write("FAILED", user_id=user["id"], error=str(exc))
            return Fail(
                f"{request.channel} delivery failed on the last attempt ({job.attempts} of {job.max_attempts}): {exc}"
            )
        log_entry.write("RETRYING", user_id=user["id"], error=str(exc))
        # The job's own backoff, returned as an outcome so the RETRYING row commits with the retry.
        delay = retry_delay_seconds(
            job.attempts,
            base_seconds=ctx.settings.retry_base_seconds,
            max_seconds=ctx.settings.retry_max_seconds,
            jitter=ctx.settings.retry_jitter,
        )
        return RetryAfter(delay, f"{request.channel} delivery failed and will be retried: {exc}")

    _disable_devices(ctx, getattr(result, "disabled_devices", ()))
    provider_message_id = getattr(result, "provider_message_id", None)
    log_entry.write("SENT", user_id=user["id"], provider_message_id=provider_message_id)
    outcome: dict[str, Any] = {"providerMessageId": provider_message_id}
    if resent:
        outcome["resent"] = True
    return Complete(result=outcome)


def _preference_skip_reason(request: _Request, user: dict[str, Any]) -> str | None:
    if request.source == ESCALATION_SOURCE:
        return None
    column = PREFERENCE_COLUMNS.get(request.channel)
    if column is not None and user.get(column) is False:
        return f"the user turned {request.channel} notifications off"
    return None


def _find_address(
    ctx: JobContext, request: _Request, user: dict[str, Any]
) -> tuple[str | None, tuple[PushDevice, ...], WebhookTarget | None]:
    """Return (skip reason or None, push devices, webhook) for the request's channel."""
    channel = request.channel
    if channel == "EMAIL" and not (user["email"] or "").strip():
        return "the user has no email address", (), None
    if channel == "SMS" and not (user["phone"] or "").strip():
        return "the user has no phone number", (), None
    if channel == "PUSH":
        rows = ctx.conn.execute(queries["list_enabled_user_devices"], {"user_id": user["id"]}).fetchall()
        if not rows:
            return "the user has no enabled push device", (), None
        return None, tuple(PushDevice(row["id"], row["endpoint_arn"], row["platform"]) for row in rows), None
    if channel in ("WEBHOOK", "SLACK"):
        row = ctx.conn.execute(queries["get_user_webhook"], {"user_id": user["id"], "channel": channel}).fetchone()
        if row is None or not row["enabled"]:
            return f"the user has no enabled {channel} webhook", (), None
        return None, (), WebhookTarget(row["id"], row["url"])
    return None, (), None


def _skip(ctx: JobContext, log_entry: _LogEntry, request: _Request, user_id: str, reason: str) -> Outcome:
    log_entry.write("SKIPPED", user_id=user_id, error=reason)
    ctx.logger.info(
        f"notification skipped: {reason}",
        action="notification_skipped",
        user_id=user_id,
        channel=request.channel,
        incident_id=request.incident_id,
    )
    return Complete(result={"skipped": reason, "userId": user_id})


def _disable_devices(ctx: JobContext, devices: tuple[DisabledDevice, ...]) -> None:
    for device in devices:
        changed = ctx.conn.execute(
            queries["disable_user_device"], {"id": device.device_id, "reason": device.reason}
        ).fetchone()
        if changed is not None:
            ctx.logger.warning(
                "push device disabled: SNS reports its endpoint disabled or deleted",
                action="push_device_disabled",
                device_id=device.device_id,
                reason=device.reason,
            )


class _LogEntry:
    """Writes this job's row of the notification log, reusing the row an earlier attempt left."""

    def __init__(
        self, ctx: JobContext, job_id: str, request: _Request, incident_id: str | None, previous: dict | None
    ) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.request = request
        self.incident_id = incident_id
        self.row_id = previous["id"] if previous else None

    def mark_sending(self, *, user_id: str) -> None:
        """Commit the row as SENDING in a transaction of its own, before the provider is called."""
        with self.ctx.database.connection() as conn:
            self._write(conn, "SENDING", user_id=user_id)

    def write(
        self, status: str, *, user_id: str | None, error: str | None = None, provider_message_id: str | None = None
    ) -> None:
        """Write the row in the job's transaction."""
        self._write(self.ctx.conn, status, user_id=user_id, error=error, provider_message_id=provider_message_id)

    def _write(
        self,
        conn,
        status: str,
        *,
        user_id: str | None,
        error: str | None = None,
        provider_message_id: str | None = None,
    ) -> None:
        values = {
            "user_id": user_id,
            "status": status,
            "provider_message_id": provider_message_id,
            "error": error,
            "sent": status == "SENT",
        }
        if self.row_id is not None:
            conn.execute(queries["update_notification"], {"id": self.row_id, **values})
            return
        self.row_id = str(uuid.uuid4())
        conn.execute(
            queries["insert_notification"],
            {
                "id": self.row_id,
                "incident_id": self.incident_id,
                "channel": self.request.channel,
                "message": self.request.message,
                "job_id": self.job_id,
                **values,
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

    source = payload.get("source")
    if source is not None and not isinstance(source, str):
        raise PermanentError(f"payload.source must be a string or absent, got {type(source).__name__}")

    return _Request(incident_id, user_id, channel, message, source)


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
