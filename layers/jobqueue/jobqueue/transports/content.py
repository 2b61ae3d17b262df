"""What each channel sends: email, SMS, push, Slack and webhook bodies rendered from a delivery.

Everything here is pure: a ``Delivery`` and an optional incident link in,
text or JSON out. Values from the incident and the message are escaped for
the format they land in (HTML for email, Slack's mrkdwn for Slack), and
control characters never reach a header such as the email subject.

SMS policy: one notification is one SMS segment. A paging text must arrive
whole and cost one message, so the text is shortened to fit one segment
instead of letting Amazon SNS split it into several billed parts. A
segment contains 160 GSM-7 characters, where characters of the GSM extension
table (such as ``€`` or ``{``) count twice. When any character is outside
GSM-7, it holds 70 UTF-16 code units. The incident link is kept whole and
the message is cut before it, ending in ``...``.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from jobqueue.transports.base import Delivery, IncidentSummary

SMS_GSM7_SEGMENT_CHARS = 160
SMS_UCS2_SEGMENT_UNITS = 70
# The shortest message worth sending next to a link; below this the link is dropped.
SMS_MIN_MESSAGE_CHARS = 20
EMAIL_SUBJECT_MAX_CHARS = 200
PUSH_BODY_MAX_CHARS = 1000
SLACK_HEADER_MAX_CHARS = 150
SLACK_TEXT_MAX_CHARS = 3000

# The GSM 03.38 default alphabet (one septet each) and its extension table
# (an escape septet plus one, so two each).
_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = set("^{}\\[~]|€\f")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# Separators people type inside phone numbers; they carry no digits.
_PHONE_SEPARATORS = re.compile(r"[\s().-]")


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


def incident_link(url_base: str | None, incident: IncidentSummary | None) -> str | None:
    """Return the incident's link: ``url_base`` with ``{incidentId}`` replaced, or ``url_base/<id>``."""
    if not url_base or incident is None:
        return None
    incident_id = quote(incident.id, safe="")
    if "{incidentId}" in url_base:
        return url_base.replace("{incidentId}", incident_id)
    return f"{url_base.rstrip('/')}/{incident_id}"


def normalize_e164(phone: str | None) -> str | None:
    """Return ``phone`` in E.164 form (``+`` and up to 15 digits), or None when it is not a phone number.

    Spaces, dots, hyphens and brackets are removed first, so ``+1 (555) 010-0100``
    becomes ``+15550100100``. A number without the leading ``+`` and
    country code is rejected, because its country cannot be guessed.
    """
    if phone is None:
        return None
    compact = _PHONE_SEPARATORS.sub("", phone)
    return compact if _E164.fullmatch(compact) else None


# -- email ---------------------------------------------------------------------


def email_content(delivery: Delivery, link: str | None) -> EmailContent:
    """Render the subject, the plain-text body and the HTML body of an email."""
    incident = delivery.incident
    if incident is not None:
        subject = f"[{incident.urgency}] {incident.title}"
        if incident.service_name:
            subject += f" ({incident.service_name})"
    else:
        subject = delivery.message.strip().splitlines()[0]
    subject = _one_line(subject, EMAIL_SUBJECT_MAX_CHARS)

    details = _incident_details(incident)
    text_lines = [delivery.message.strip(), ""]
    text_lines += [f"{label}: {value}" for label, value in details]
    if link:
        text_lines.append(f"Open the incident: {link}")
    text = "\n".join(text_lines).rstrip() + "\n"

    rows = "".join(
        f'<tr><th align="left" style="padding-right:12px">{html.escape(label)}</th><td>{html.escape(value)}</td></tr>'
        for label, value in details
    )
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"></head><body>',
        f'<p style="white-space:pre-wrap">{html.escape(delivery.message.strip())}</p>',
    ]
    if rows:
        parts.append(f"<table>{rows}</table>")
    if link:
        parts.append(f'<p><a href="{html.escape(link, quote=True)}">Open the incident</a></p>')
    parts.append("</body></html>")
    return EmailContent(subject=subject, text=text, html="\n".join(parts) + "\n")


def _incident_details(incident: IncidentSummary | None) -> list[tuple[str, str]]:
    if incident is None:
        return []
    details = [("Incident", incident.title)]
    if incident.service_name:
        details.append(("Service", incident.service_name))
    details += [("Status", incident.status), ("Urgency", incident.urgency)]
    return details


# -- SMS -----------------------------------------------------------------------


def sms_text(delivery: Delivery, link: str | None) -> str:
    """Render an SMS that fits one segment (see the module docstring); the link is kept whole."""
    message = " ".join(delivery.message.split())
    suffix = f" {link}" if link else ""
    if sms_fits_one_segment(message + suffix):
        return message + suffix

    # Cut the message, never the link, unless the link leaves too little room.
    gsm = _is_gsm7(message + suffix)
    segment = SMS_GSM7_SEGMENT_CHARS if gsm else SMS_UCS2_SEGMENT_UNITS
    if suffix and segment - _sms_cost(suffix, gsm) < SMS_MIN_MESSAGE_CHARS:
        suffix = ""
    ellipsis = "..." if gsm else "…"
    budget = segment - _sms_cost(suffix, gsm) - _sms_cost(ellipsis, gsm)
    kept = []
    used = 0
    for char in message:
        cost = _char_cost(char, gsm)
        if used + cost > budget:
            break
        kept.append(char)
        used += cost
    return "".join(kept).rstrip() + ellipsis + suffix


def sms_fits_one_segment(text: str) -> bool:
    """Return True when ``text`` fits one SMS segment in the encoding it needs."""
    return _sms_cost(text) <= _sms_budget(text)


def _is_gsm7(text: str) -> bool:
    return all(char in _GSM7_BASIC or char in _GSM7_EXTENSION for char in text)


def _sms_budget(text: str) -> int:
    return SMS_GSM7_SEGMENT_CHARS if _is_gsm7(text) else SMS_UCS2_SEGMENT_UNITS


def _sms_cost(text: str, gsm: bool | None = None) -> int:
    if gsm is None:
        gsm = _is_gsm7(text)
    return sum(_char_cost(char, gsm) for char in text)


def _char_cost(char: str, gsm: bool) -> int:
    if gsm:
        return 2 if char in _GSM7_EXTENSION else 1
    # UCS-2 as carriers send it is UTF-16: characters beyond the BMP take two units.
    return 2 if ord(char) > 0xFFFF else 1


# -- push ----------------------------------------------------------------------


def push_message(delivery: Delivery, link: str | None) -> str:
    """Render the SNS ``MessageStructure=json`` message: one payload per platform, plus a default."""
    incident = delivery.incident
    title = _one_line(f"[{incident.urgency}] {incident.title}" if incident else "Notification", 200)
    body = _clip(" ".join(delivery.message.split()), PUSH_BODY_MAX_CHARS)
    # FCM data values must be strings.
    data = {"jobId": delivery.job_id, "incidentId": incident.id if incident else "", "url": link or ""}
    apns = json.dumps({"aps": {"alert": {"title": title, "body": body}, "sound": "default"}, **data})
    payloads = {
        "default": body,
        "APNS": apns,
        "APNS_SANDBOX": apns,
        "GCM": json.dumps({"notification": {"title": title, "body": body}, "data": data}),
    }
    return json.dumps(payloads)


# -- Slack and webhooks --------------------------------------------------------


def slack_body(delivery: Delivery, link: str | None) -> dict[str, Any]:
    """Render a Slack incoming-webhook body: a plain ``text`` fallback and Block Kit ``blocks``."""
    incident = delivery.incident
    message = delivery.message.strip()
    headline = f"[{incident.urgency}] {incident.title}" if incident else "Notification"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _one_line(headline, SLACK_HEADER_MAX_CHARS)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(_slack_escape(message), SLACK_TEXT_MAX_CHARS)}},
    ]
    details = _incident_details(incident)[1:]
    if details:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(value)}"} for label, value in details
                ],
            }
        )
    if link:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{_slack_escape(link)}|Open the incident>"}}
        )
    text = _clip(f"{headline}: {message}" if incident else message, SLACK_TEXT_MAX_CHARS)
    return {"text": _slack_escape(text), "blocks": blocks}


def webhook_body(delivery: Delivery, link: str | None, *, now: datetime | None = None) -> dict[str, Any]:
    """Render a generic webhook's JSON body. It carries ids, never the user's email or phone."""
    incident = delivery.incident
    return {
        "type": "notification",
        "deliveryId": delivery.job_id,
        "channel": delivery.channel,
        "message": delivery.message,
        "userId": delivery.user.id,
        "incident": None
        if incident is None
        else {
            "id": incident.id,
            "title": incident.title,
            "service": incident.service_name,
            "status": incident.status,
            "urgency": incident.urgency,
            "url": link,
        },
        "sentAt": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
    }


def _slack_escape(text: str) -> str:
    # Slack reads &, < and > as markup in every text field.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str, max_chars: int) -> str:
    return _clip(" ".join(_CONTROL.sub(" ", text).split()), max_chars)


def _clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"
