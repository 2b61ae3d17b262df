"""What each channel sends: email, SMS, push, Slack and webhook bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from jobqueue.transports import Delivery, IncidentSummary, Recipient
from jobqueue.transports.content import (
    SMS_GSM7_SEGMENT_CHARS,
    SMS_UCS2_SEGMENT_UNITS,
    email_content,
    incident_link,
    normalize_e164,
    push_message,
    slack_body,
    sms_fits_one_segment,
    sms_text,
    webhook_body,
)

INCIDENT = IncidentSummary(
    id="inc/1", title='DB <down> & "out"', status="OPEN", urgency="HIGH", service_name="db & cache"
)
LINK = "https://app.example.com/incidents/inc%2F1"


def make_delivery(message: str = "CPU <high> on db-1", incident: IncidentSummary | None = INCIDENT) -> Delivery:
    return Delivery(
        job_id="job-1",
        channel="EMAIL",
        message=message,
        user=Recipient(id="u1", name="Alice", email="alice@example.com", phone="+15555550100"),
        incident=incident,
    )


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://app.example.com/incidents", LINK),
        ("https://app.example.com/incidents/", LINK),
        ("https://app.example.com/i/{incidentId}/view", "https://app.example.com/i/inc%2F1/view"),
        (None, None),
    ],
)
def test_incident_link_forms(base, expected):
    assert incident_link(base, INCIDENT) == expected


def test_incident_link_without_incident():
    assert incident_link("https://app.example.com/incidents", None) is None


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+14155550100", "+14155550100"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("+44 20.7946.0958", "+442079460958"),
        ("4155550100", None),
        ("+0123456789", None),
        ("+1234567890123456", None),
        ("+1 415 CALL NOW", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_e164_cases(phone, expected):
    assert normalize_e164(phone) == expected


def test_email_content_escapes_html():
    rendered = email_content(make_delivery(), LINK)

    assert rendered.subject == '[HIGH] DB <down> & "out" (db & cache)'
    assert "&lt;high&gt;" in rendered.html
    assert "DB &lt;down&gt; &amp; &quot;out&quot;" in rendered.html
    assert "db &amp; cache" in rendered.html
    assert f'<a href="{LINK}">' in rendered.html
    assert "<high>" not in rendered.html
    assert "<down>" not in rendered.html


def test_email_content_text_lists_details():
    rendered = email_content(make_delivery(), LINK)

    assert rendered.text.startswith("CPU <high> on db-1\n\n")
    assert 'Incident: DB <down> & "out"\n' in rendered.text
    assert "Service: db & cache\n" in rendered.text
    assert "Status: OPEN\n" in rendered.text
    assert "Urgency: HIGH\n" in rendered.text
    assert f"Open the incident: {LINK}\n" in rendered.text


def test_email_subject_drops_control_characters():
    incident = IncidentSummary(id="i", title="Line one\r\nBcc: x@example.com", status="OPEN", urgency="LOW")

    rendered = email_content(make_delivery(incident=incident), None)

    assert "\r" not in rendered.subject
    assert "\n" not in rendered.subject
    assert rendered.subject == "[LOW] Line one Bcc: x@example.com"


def test_email_subject_without_incident_uses_first_line():
    rendered = email_content(make_delivery("Test page\nsecond line", incident=None), None)

    assert rendered.subject == "Test page"
    assert "Open the incident" not in rendered.text
    assert "<table>" not in rendered.html


def test_sms_short_message_keeps_link():
    text = sms_text(make_delivery("Disk full"), LINK)

    assert text == f"Disk full {LINK}"


def test_sms_long_gsm_message_fits_one_segment():
    text = sms_text(make_delivery("x" * 500), LINK)

    assert len(text) == SMS_GSM7_SEGMENT_CHARS
    assert text.endswith(f"... {LINK}")
    assert sms_fits_one_segment(text)


def test_sms_extension_characters_count_twice():
    text = sms_text(make_delivery("€" * 200), None)

    assert text == "€" * 78 + "..."
    assert sms_fits_one_segment(text)


def test_sms_unicode_message_uses_ucs2_budget():
    text = sms_text(make_delivery("Сервер недоступен " * 10), LINK)

    assert len(text) <= SMS_UCS2_SEGMENT_UNITS
    assert text.endswith(f"… {LINK}")
    assert sms_fits_one_segment(text)


def test_sms_emoji_counts_two_units():
    text = sms_text(make_delivery("🔥" * 100), None)

    assert text == "🔥" * 34 + "…"
    assert sms_fits_one_segment(text)


def test_sms_link_dropped_when_too_long():
    long_link = "https://app.example.com/" + "a" * 150

    text = sms_text(make_delivery("y" * 300), long_link)

    assert long_link not in text
    assert len(text) == SMS_GSM7_SEGMENT_CHARS
    assert text.endswith("...")


def test_sms_collapses_whitespace():
    assert sms_text(make_delivery("a\n\n  b\tc"), None) == "a b c"


def test_push_message_has_platform_payloads():
    payloads = json.loads(push_message(make_delivery(), LINK))

    assert payloads["default"] == "CPU <high> on db-1"
    apns = json.loads(payloads["APNS"])
    assert apns["aps"]["alert"] == {"title": '[HIGH] DB <down> & "out"', "body": "CPU <high> on db-1"}
    assert apns["incidentId"] == "inc/1"
    assert payloads["APNS_SANDBOX"] == payloads["APNS"]
    gcm = json.loads(payloads["GCM"])
    assert gcm["notification"]["title"] == '[HIGH] DB <down> & "out"'
    assert gcm["data"] == {"jobId": "job-1", "incidentId": "inc/1", "url": LINK}


def test_slack_body_escapes_markup():
    body = slack_body(make_delivery(), LINK)

    assert body["text"] == '[HIGH] DB &lt;down&gt; &amp; "out": CPU &lt;high&gt; on db-1'
    header, message, fields, link = body["blocks"]
    assert header["text"] == {"type": "plain_text", "text": '[HIGH] DB <down> & "out"'}
    assert message["text"]["text"] == "CPU &lt;high&gt; on db-1"
    assert {"type": "mrkdwn", "text": "*Service*\ndb &amp; cache"} in fields["fields"]
    assert link["text"]["text"] == f"<{LINK}|Open the incident>"


def test_slack_body_without_incident():
    body = slack_body(make_delivery("Test page", incident=None), None)

    assert body["text"] == "Test page"
    assert [block["type"] for block in body["blocks"]] == ["header", "section"]


def test_webhook_body_has_ids_not_contacts():
    now = datetime(2025, 3, 1, 10, 15, 0, 123000, tzinfo=UTC)

    body = webhook_body(make_delivery(), LINK, now=now)

    assert body == {
        "type": "notification",
        "deliveryId": "job-1",
        "channel": "EMAIL",
        "message": "CPU <high> on db-1",
        "userId": "u1",
        "incident": {
            "id": "inc/1",
            "title": 'DB <down> & "out"',
            "service": "db & cache",
            "status": "OPEN",
            "urgency": "HIGH",
            "url": LINK,
        },
        "sentAt": "2025-03-01T10:15:00.123Z",
    }
    assert "alice@example.com" not in json.dumps(body)
