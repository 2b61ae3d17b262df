"""The ``log`` transport: writes a log line instead of sending anything.

It is the default (``NOTIFY_TRANSPORT=log``) for local runs and tests,
where no email or SMS provider is reachable. The line carries ids only,
never the message text or the user's contact details.
"""

from __future__ import annotations

from jobqueue.logs import logger
from jobqueue.transports.base import Delivery, SendResult


class LogTransport:
    """Logs each delivery at INFO and reports it sent."""

    def send(self, delivery: Delivery) -> SendResult:
        provider_message_id = f"log-{delivery.job_id}"
        logger.info(
            "notification sent",
            extra={
                "action": "notification_sent",
                "transport": "log",
                "job_id": delivery.job_id,
                "channel": delivery.channel,
                "user_id": delivery.user.id,
                "incident_id": delivery.incident.id if delivery.incident else None,
                "provider_message_id": provider_message_id,
            },
        )
        return SendResult(provider_message_id=provider_message_id)
