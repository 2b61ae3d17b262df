"""NOTIFICATION delivery with the aws transport, through the processor function's entry point.

Email, SMS and push go to the moto server on 127.0.0.1 (the ``aws``
fixture) and are read back from its ``/moto-api/data.json``. Webhooks go
to an HTTPS receiver on 127.0.0.1 with a throwaway self-signed
certificate, allowed by ``WEBHOOK_ALLOWED_HOSTS``. The certificate is made
with ``cryptography``, which moto depends on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.server
import ipaddress
import json
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import boto3
import pytest
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jobqueue import config
from jobqueue.db import connect
from jobqueue.transports import aws as aws_transport
from jobqueue.transports import reset_transports
from jobqueue_local.invoke import invoke
from tests.conftest import ROOT, load_event
from tests.integration.helpers import job_row, make_due
from tests.integration.test_handlers import enqueue_job, notification_rows, seed_escalation

SENDER = "Alerts <alerts@example.com>"
URL_BASE = "https://app.example.com/incidents"
SIGNING_SECRET = "whsec-test-signing-secret-4f1b"
SLACK_TOKEN = "T0000/B0000/slacktoken1234"


# -- running the processor function ------------------------------------------


@pytest.fixture
def deliver(aws, database):
    """Return a function that runs the processor function once with the aws transport; it returns the summary.

    Keyword arguments override environment variables; a value of "" unsets one.
    """
    base = {
        "DATABASE_URL": database,
        "NOTIFY_TRANSPORT": "aws",
        "SES_FROM_ADDRESS": SENDER,
        "INCIDENT_URL_BASE": URL_BASE,
        "SMS_SENDER_ID": "AcmeOps",
    }
    aws_transport.reset_clients()

    def run(**overrides: str) -> dict:
        # Settings and transports are read at cold start; each run here is a cold start with its own environment.
        config.reset_settings()
        reset_transports()
        event = load_event("processor-scheduled.json")
        return invoke(
            "ProcessorFunction", event, template_path=ROOT / "template.yaml", env_overrides={**base, **overrides}
        )

    yield run
    config.reset_settings()
    reset_transports()
    aws_transport.reset_clients()


def moto_state(endpoint: str) -> dict:
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json") as response:
        return json.load(response)


def sent_emails(endpoint: str) -> list[dict]:
    return moto_state(endpoint)["ses"]["Message"]


def sent_sms(endpoint: str) -> list[dict]:
    return moto_state(endpoint)["sns"]["SMS"]


def verify_sender() -> None:
    boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")


def count_calls(service: str, operation: str) -> list[dict]:
    """Record the parameters of every call the transport's client makes to ``operation``."""
    calls: list[dict] = []
    aws_transport.client(service).meta.events.register(
        f"provide-client-params.{service}.{operation}", lambda params, **_: calls.append(dict(params))
    )
    return calls


def payload(**overrides) -> dict:
    values = {"incidentId": "i1", "userId": "alice", "channel": "EMAIL", "message": "CPU <high> on db-1"}
    values.update(overrides)
    return values


def set_user(conn, user_id: str, **columns) -> None:
    for column, value in columns.items():
        conn.execute(f'UPDATE "User" SET "{column}" = %s WHERE id = %s', (value, user_id))


# -- EMAIL -----------------------------------------------------------------------


def test_email_sent_through_ses(conn, deliver, aws):
    seed_escalation(conn)
    conn.execute("""UPDATE "Incident" SET title = 'DB <down> & out' WHERE id = 'i1'""")
    verify_sender()
    job_id = enqueue_job(conn, "NOTIFICATION", payload())

    summary = deliver()

    assert summary["processed"] == 1
    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    (email,) = sent_emails(aws)
    assert email["source"] == SENDER
    assert email["destinations"]["ToAddresses"] == ["alice@example.com"]
    assert email["subject"] == "[HIGH] DB <down> & out (svc-s1)"
    # moto keeps the HTML part when a message has both.
    assert "CPU &lt;high&gt; on db-1" in email["body"]
    assert "DB &lt;down&gt; &amp; out" in email["body"]
    assert f'<a href="{URL_BASE}/i1">' in email["body"]
    (row,) = notification_rows(conn, job_id)
    assert row["status"] == "SENT"
    assert row["providerMessageId"] == email["id"]
    assert job["result"] == {"providerMessageId": email["id"]}


def test_email_request_has_text_and_configuration_set(conn, deliver):
    seed_escalation(conn)
    verify_sender()
    calls = count_calls("sesv2", "SendEmail")
    enqueue_job(conn, "NOTIFICATION", payload())

    deliver(SES_CONFIGURATION_SET="paging-events")

    (request,) = calls
    assert request["ConfigurationSetName"] == "paging-events"
    body = request["Content"]["Simple"]["Body"]
    assert body["Text"]["Data"].startswith("CPU <high> on db-1\n\n")
    assert f"Open the incident: {URL_BASE}/i1" in body["Text"]["Data"]
    assert body["Html"]["Charset"] == "UTF-8"


def test_email_sending_row_committed_before_send(conn, deliver, database):
    seed_escalation(conn)
    verify_sender()
    job_id = enqueue_job(conn, "NOTIFICATION", payload())
    seen: list[list[str]] = []

    def look(**_):
        with connect(database) as other:
            seen.append([row["status"] for row in notification_rows(other, job_id)])

    aws_transport.client("sesv2").meta.events.register("before-call.sesv2.SendEmail", look)

    deliver()

    assert seen == [["SENDING"]]
    assert [row["status"] for row in notification_rows(conn, job_id)] == ["SENT"]


def test_email_unverified_sender_fails(conn, deliver, aws):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "NOTIFICATION", payload())

    summary = deliver()

    assert summary["failed"] == 1
    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert job["attempts"] == 1
    assert "MessageRejected" in job["error"]
    assert "verify the identity of SES_FROM_ADDRESS" in job["error"]
    (row,) = notification_rows(conn, job_id)
    assert row["status"] == "FAILED"
    assert "MessageRejected" in row["error"]
    assert sent_emails(aws) == []


def test_email_without_sender_setting_fails(conn, deliver):
    seed_escalation(conn)
    verify_sender()
    job_id = enqueue_job(conn, "NOTIFICATION", payload())

    deliver(SES_FROM_ADDRESS="")

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert "SES_FROM_ADDRESS is not set" in job["error"]
    assert "SesFromAddress" in job["error"]


def test_email_throttling_retried_then_sent(conn, deliver, aws):
    seed_escalation(conn)
    verify_sender()
    job_id = enqueue_job(conn, "NOTIFICATION", payload())
    stubber = Stubber(aws_transport.client("sesv2"))
    stubber.add_client_error(
        "send_email",
        service_error_code="TooManyRequestsException",
        service_message="Maximum sending rate exceeded.",
        http_status_code=429,
    )

    with stubber:
        first = deliver()

    assert first["retried"] == 1
    job = job_row(conn, job_id)
    assert job["status"] == "PENDING"
    assert "TooManyRequestsException" in job["error"]
    assert job["errorHistory"][0]["attempt"] == 1
    (row,) = notification_rows(conn, job_id)
    assert row["status"] == "RETRYING"
    assert sent_emails(aws) == []

    make_due(conn, job_id)
    second = deliver()

    assert second["processed"] == 1
    assert job_row(conn, job_id)["status"] == "COMPLETED"
    assert [(r["id"], r["status"]) for r in notification_rows(conn, job_id)] == [(row["id"], "SENT")]
    assert len(sent_emails(aws)) == 1


def test_email_already_sent_not_sent_again(conn, deliver, aws):
    seed_escalation(conn)
    verify_sender()
    job_id = enqueue_job(conn, "NOTIFICATION", payload())
    deliver()
    calls = count_calls("sesv2", "SendEmail")
    # The job runs again, as after a lost completion or a manual retry.
    conn.execute(
        """UPDATE "BackgroundJob" SET status = 'PENDING', "scheduledAt" = now() AT TIME ZONE 'UTC' WHERE id = %s""",
        (job_id,),
    )

    deliver()

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"]["alreadySent"] is True
    assert calls == []
    assert len(sent_emails(aws)) == 1
    assert [row["status"] for row in notification_rows(conn, job_id)] == ["SENT"]


def test_email_after_crash_sent_again(conn, deliver, aws, log_records):
    seed_escalation(conn)
    verify_sender()
    job_id = enqueue_job(conn, "NOTIFICATION", payload())
    # What an attempt that died between calling SES and committing leaves behind.
    conn.execute(
        """INSERT INTO "Notification" (id, "incidentId", "userId", channel, message, status, "jobId", "createdAt")
           VALUES ('n-crashed', 'i1', 'alice', 'EMAIL', 'm', 'SENDING', %s, now() AT TIME ZONE 'UTC')""",
        (job_id,),
    )

    deliver()

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"]["resent"] is True
    assert len(sent_emails(aws)) == 1
    assert [(row["id"], row["status"]) for row in notification_rows(conn, job_id)] == [("n-crashed", "SENT")]
    (warning,) = [line for line in log_records() if line.get("action") == "notification_resent"]
    assert warning["level"] == "WARNING"
    assert warning["job_id"] == job_id


# -- preferences -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "column", "reason"),
    [
        ("EMAIL", "emailEnabled", "the user turned EMAIL notifications off"),
        ("SMS", "smsEnabled", "the user turned SMS notifications off"),
        ("PUSH", "pushEnabled", "the user turned PUSH notifications off"),
    ],
)
def test_disabled_channel_skipped(conn, deliver, aws, channel, column, reason):
    seed_escalation(conn)
    verify_sender()
    set_user(conn, "alice", **{column: False})
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel=channel))

    deliver()

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"] == {"skipped": reason, "userId": "alice"}
    (row,) = notification_rows(conn, job_id)
    assert row["status"] == "SKIPPED"
    assert row["error"] == reason
    assert sent_emails(aws) == []
    assert sent_sms(aws) == []


@pytest.mark.parametrize(
    ("channel", "column", "reason"),
    [
        ("EMAIL", "email", "the user has no email address"),
        ("SMS", "phone", "the user has no phone number"),
        ("PUSH", None, "the user has no enabled push device"),
        ("WEBHOOK", None, "the user has no enabled WEBHOOK webhook"),
        ("SLACK", None, "the user has no enabled SLACK webhook"),
    ],
)
def test_missing_address_skipped(conn, deliver, channel, column, reason):
    seed_escalation(conn)
    if column:
        set_user(conn, "alice", **{column: None})
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel=channel))

    deliver()

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"]["skipped"] == reason
    assert [row["status"] for row in notification_rows(conn, job_id)] == ["SKIPPED"]


def test_escalation_overrides_preferences(conn, deliver, aws):
    seed_escalation(conn)
    verify_sender()
    set_user(conn, "alice", emailEnabled=False, smsEnabled=False)
    escalation_id = enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 0})

    deliver()
    deliver()

    assert job_row(conn, escalation_id)["result"] == {"notified": 2, "nextStep": 1}
    statuses = conn.execute('SELECT channel, status FROM "Notification" ORDER BY channel').fetchall()
    assert statuses == [{"channel": "EMAIL", "status": "SENT"}, {"channel": "SMS", "status": "SENT"}]
    assert len(sent_emails(aws)) == 1
    assert len(sent_sms(aws)) == 1


# -- SMS -------------------------------------------------------------------------


def test_sms_published_to_phone(conn, deliver, aws):
    seed_escalation(conn)
    set_user(conn, "alice", phone="+1 (415) 555-0100")
    calls = count_calls("sns", "Publish")
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="SMS", message="Disk full " * 40))

    deliver()

    assert job_row(conn, job_id)["status"] == "COMPLETED"
    (sms,) = sent_sms(aws)
    assert sms["phone_number"] == "+14155550100"
    assert len(sms["message"]) <= 160
    assert sms["message"].endswith(f"... {URL_BASE}/i1")
    assert notification_rows(conn, job_id)[0]["providerMessageId"] == sms["message_id"]
    (request,) = calls
    assert request["MessageAttributes"] == {
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
        "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "AcmeOps"},
    }


def test_sms_invalid_number_fails_without_publish(conn, deliver, aws):
    seed_escalation(conn)
    set_user(conn, "alice", phone="555-0100")
    calls = count_calls("sns", "Publish")
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="SMS"))

    deliver()

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert "not in E.164 format" in job["error"]
    assert "555-0100" not in job["error"]
    assert [row["status"] for row in notification_rows(conn, job_id)] == ["FAILED"]
    assert calls == []
    assert sent_sms(aws) == []


# -- PUSH ------------------------------------------------------------------------


def add_device(conn, device_id: str, endpoint_arn: str, *, enabled: bool = True) -> None:
    conn.execute(
        """INSERT INTO "UserDevice" (id, "userId", "endpointArn", platform, enabled)
           VALUES (%s, 'alice', %s, 'GCM', %s)""",
        (device_id, endpoint_arn, enabled),
    )


def device_rows(conn) -> dict[str, dict]:
    rows = conn.execute('SELECT id, enabled, "disabledReason" FROM "UserDevice"').fetchall()
    return {row["id"]: row for row in rows}


def push_endpoints() -> tuple[str, str, str]:
    """Create a live, a disabled and a deleted SNS platform endpoint; return their ARNs."""
    sns = boto3.client("sns")
    app = sns.create_platform_application(Name="pager", Platform="GCM", Attributes={"PlatformCredential": "key"})
    app_arn = app["PlatformApplicationArn"]
    live = sns.create_platform_endpoint(PlatformApplicationArn=app_arn, Token="token-live")["EndpointArn"]
    disabled = sns.create_platform_endpoint(
        PlatformApplicationArn=app_arn, Token="token-off", Attributes={"Enabled": "false"}
    )["EndpointArn"]
    deleted = sns.create_platform_endpoint(PlatformApplicationArn=app_arn, Token="token-gone")["EndpointArn"]
    sns.delete_endpoint(EndpointArn=deleted)
    return live, disabled, deleted


def endpoint_messages(endpoint: str, arn: str) -> list[str]:
    (found,) = [item for item in moto_state(endpoint)["sns"]["PlatformEndpoint"] if item["arn"] == arn]
    return list(found["messages"].values())


def test_push_sent_and_dead_endpoints_disabled(conn, deliver, aws):
    seed_escalation(conn)
    live, disabled, deleted = push_endpoints()
    add_device(conn, "d-live", live)
    add_device(conn, "d-off", disabled)
    add_device(conn, "d-gone", deleted)
    add_device(conn, "d-old", "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/pager/old", enabled=False)
    calls = count_calls("sns", "Publish")
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="PUSH"))

    deliver()

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    (message,) = endpoint_messages(aws, live)
    payloads = json.loads(message)
    assert json.loads(payloads["GCM"])["data"]["url"] == f"{URL_BASE}/i1"
    # Devices added in the same millisecond come in id order, so compare without order.
    assert sorted(call["TargetArn"] for call in calls) == sorted([live, disabled, deleted])
    devices = device_rows(conn)
    assert devices["d-live"]["enabled"] is True
    assert devices["d-off"]["enabled"] is False
    assert devices["d-off"]["disabledReason"].startswith("EndpointDisabled")
    assert devices["d-gone"]["enabled"] is False
    assert devices["d-gone"]["disabledReason"].startswith("NotFound")
    (row,) = notification_rows(conn, job_id)
    assert row["status"] == "SENT"
    assert row["providerMessageId"] == job["result"]["providerMessageId"]


def test_push_all_endpoints_dead_skipped(conn, deliver, aws):
    seed_escalation(conn)
    _, disabled, deleted = push_endpoints()
    add_device(conn, "d-off", disabled)
    add_device(conn, "d-gone", deleted)
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="PUSH"))

    deliver()

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert "every push device of the user is disabled" in job["result"]["skipped"]
    assert [row["status"] for row in notification_rows(conn, job_id)] == ["SKIPPED"]
    assert {device["enabled"] for device in device_rows(conn).values()} == {False}

    # The next notification finds no enabled device and calls SNS no more.
    calls = count_calls("sns", "Publish")
    second = enqueue_job(conn, "NOTIFICATION", payload(channel="PUSH"))
    deliver()

    assert job_row(conn, second)["result"]["skipped"] == "the user has no enabled push device"
    assert calls == []


def test_push_partly_sent_not_retried(conn, deliver, log_records):
    seed_escalation(conn)
    add_device(conn, "d-1", "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/pager/1")
    add_device(conn, "d-2", "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/pager/2")
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="PUSH"))
    stubber = Stubber(aws_transport.client("sns"))
    stubber.add_response("publish", {"MessageId": "m-1"})
    stubber.add_client_error("publish", service_error_code="Throttled", http_status_code=400)

    with stubber:
        summary = deliver()

    assert summary["processed"] == 1
    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"] == {"providerMessageId": "m-1"}
    assert {device["enabled"] for device in device_rows(conn).values()} == {True}
    (warning,) = [line for line in log_records() if line.get("action") == "push_partly_sent"]
    assert warning["sent"] == 1
    assert warning["failed"] == 1
    assert "Throttled" in warning["error"]


def test_push_throttled_everywhere_retried(conn, deliver):
    seed_escalation(conn)
    add_device(conn, "d-1", "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/pager/1")
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="PUSH"))
    stubber = Stubber(aws_transport.client("sns"))
    stubber.add_client_error("publish", service_error_code="Throttled", http_status_code=400)

    with stubber:
        summary = deliver()

    assert summary["retried"] == 1
    assert "Throttled" in job_row(conn, job_id)["error"]
    assert [row["status"] for row in notification_rows(conn, job_id)] == ["RETRYING"]


# -- WEBHOOK and SLACK -------------------------------------------------------------


@dataclass
class Receiver:
    """An HTTPS server on 127.0.0.1 that records each POST and responds with ``status``."""

    port: int
    cert_file: str
    requests: list[dict] = field(default_factory=list)
    status: int = 200

    def url(self, path: str = "/hooks/incident") -> str:
        return f"https://127.0.0.1:{self.port}{path}"


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        receiver: Receiver = self.server.receiver
        receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(receiver.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


def write_self_signed_cert(folder) -> tuple[str, str]:
    """Write a throwaway certificate for 127.0.0.1 and its key; return their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jobqueue test receiver")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_file = folder / "receiver.pem"
    key_file = folder / "receiver.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def receiver(tmp_path):
    cert_file, key_file = write_self_signed_cert(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.receiver = Receiver(port=server.server_address[1], cert_file=cert_file)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.receiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def create_webhook_secret(entries: dict) -> str:
    response = boto3.client("secretsmanager").create_secret(Name="webhooks", SecretString=json.dumps(entries))
    return response["ARN"]


def add_webhook(conn, webhook_id: str, channel: str, url: str | None) -> None:
    conn.execute(
        """INSERT INTO "Webhook" (id, "userId", channel, url) VALUES (%s, 'alice', %s, %s)""",
        (webhook_id, channel, url),
    )


def webhook_env(receiver: Receiver, secret_arn: str | None = None) -> dict[str, str]:
    env = {"WEBHOOK_ALLOWED_HOSTS": f"127.0.0.1:{receiver.port}", "SSL_CERT_FILE": receiver.cert_file}
    if secret_arn:
        env["WEBHOOK_SECRETS_ARN"] = secret_arn
    return env


def test_webhook_signed_post_received(conn, deliver, receiver, log_records):
    seed_escalation(conn)
    secret_arn = create_webhook_secret({"wh-alice": SIGNING_SECRET})
    add_webhook(conn, "wh-alice", "WEBHOOK", receiver.url())
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="WEBHOOK"))

    deliver(**webhook_env(receiver, secret_arn))

    assert job_row(conn, job_id)["status"] == "COMPLETED"
    (request,) = receiver.requests
    assert request["path"] == "/hooks/incident"
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert headers["X-Jobqueue-Delivery"] == job_id
    timestamp = int(headers["X-Jobqueue-Timestamp"])
    assert abs(time.time() - timestamp) < 60
    expected = hmac.new(SIGNING_SECRET.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256)
    assert hmac.compare_digest(headers["X-Jobqueue-Signature"], "sha256=" + expected.hexdigest())
    body = json.loads(request["body"])
    assert body["deliveryId"] == job_id
    assert body["channel"] == "WEBHOOK"
    assert body["message"] == "CPU <high> on db-1"
    assert body["incident"]["url"] == f"{URL_BASE}/i1"
    assert "alice@example.com" not in request["body"].decode()
    assert [row["status"] for row in notification_rows(conn, job_id)] == ["SENT"]
    assert SIGNING_SECRET not in json.dumps(log_records())


def test_slack_url_from_secret_posts_blocks(conn, deliver, receiver, log_records):
    seed_escalation(conn)
    slack_url = receiver.url(f"/services/{SLACK_TOKEN}")
    secret_arn = create_webhook_secret({"wh-slack": {"url": slack_url}})
    add_webhook(conn, "wh-slack", "SLACK", None)
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="SLACK"))

    deliver(**webhook_env(receiver, secret_arn))

    assert job_row(conn, job_id)["status"] == "COMPLETED"
    (request,) = receiver.requests
    assert request["path"] == f"/services/{SLACK_TOKEN}"
    assert "X-Jobqueue-Signature" not in request["headers"]
    body = json.loads(request["body"])
    assert body["text"].startswith("[HIGH] Database down i1: CPU &lt;high&gt;")
    assert body["blocks"][0]["type"] == "header"
    assert body["blocks"][-1]["text"]["text"] == f"<{URL_BASE}/i1|Open the incident>"
    assert SLACK_TOKEN not in json.dumps(log_records())
    assert SLACK_TOKEN not in (job_row(conn, job_id)["result"] or {}).get("providerMessageId", "")


def test_webhook_server_error_retried_same_delivery(conn, deliver, receiver):
    seed_escalation(conn)
    secret_arn = create_webhook_secret({"wh-alice": SIGNING_SECRET})
    add_webhook(conn, "wh-alice", "WEBHOOK", receiver.url())
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="WEBHOOK"))
    receiver.status = 503

    first = deliver(**webhook_env(receiver, secret_arn))

    assert first["retried"] == 1
    assert "responded with HTTP 503" in job_row(conn, job_id)["error"]
    assert [row["status"] for row in notification_rows(conn, job_id)] == ["RETRYING"]

    receiver.status = 204
    make_due(conn, job_id)
    deliver(**webhook_env(receiver, secret_arn))

    assert job_row(conn, job_id)["status"] == "COMPLETED"
    assert [request["headers"]["X-Jobqueue-Delivery"] for request in receiver.requests] == [job_id, job_id]
    assert [row["status"] for row in notification_rows(conn, job_id)] == ["SENT"]


def test_webhook_client_error_fails(conn, deliver, receiver):
    seed_escalation(conn)
    secret_arn = create_webhook_secret({"wh-alice": SIGNING_SECRET})
    add_webhook(conn, "wh-alice", "WEBHOOK", receiver.url())
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="WEBHOOK"))
    receiver.status = 401

    deliver(**webhook_env(receiver, secret_arn))

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert job["attempts"] == 1
    assert "responded with HTTP 401" in job["error"]
    assert len(receiver.requests) == 1


def test_webhook_without_signing_secret_fails(conn, deliver, receiver):
    seed_escalation(conn)
    secret_arn = create_webhook_secret({"someone-else": SIGNING_SECRET})
    add_webhook(conn, "wh-alice", "WEBHOOK", receiver.url())
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="WEBHOOK"))

    deliver(**webhook_env(receiver, secret_arn))

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert "has no signing secret for webhook 'wh-alice'" in job["error"]
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://10.0.0.1/hook", "uses http"),
        ("https://10.0.0.1/hook", "a private address"),
        ("https://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("https://[::1]:{port}/hooks/incident", "a loopback address"),
        ("https://localhost:{port}/hooks/incident", "a loopback address"),
    ],
)
def test_webhook_blocked_url_never_connects(conn, deliver, receiver, monkeypatch, url, fragment):
    seed_escalation(conn)
    secret_arn = create_webhook_secret({"wh-alice": SIGNING_SECRET})
    add_webhook(conn, "wh-alice", "WEBHOOK", url.format(port=receiver.port))
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="WEBHOOK"))
    connections: list[tuple] = []

    def record(address, *args, **kwargs):
        connections.append(address)
        raise OSError("connections are not allowed in this test")

    monkeypatch.setattr(socket, "create_connection", record)

    # No allow-list: only the secret and the certificate.
    deliver(WEBHOOK_SECRETS_ARN=secret_arn, SSL_CERT_FILE=receiver.cert_file)

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert fragment in job["error"]
    assert connections == []
    assert receiver.requests == []
    assert [row["status"] for row in notification_rows(conn, job_id)] == ["FAILED"]


def test_webhook_allow_list_other_port_rejected(conn, deliver, receiver):
    seed_escalation(conn)
    secret_arn = create_webhook_secret({"wh-alice": SIGNING_SECRET})
    add_webhook(conn, "wh-alice", "WEBHOOK", receiver.url())
    job_id = enqueue_job(conn, "NOTIFICATION", payload(channel="WEBHOOK"))

    deliver(
        WEBHOOK_SECRETS_ARN=secret_arn,
        WEBHOOK_ALLOWED_HOSTS=f"127.0.0.1:{receiver.port + 1}",
        SSL_CERT_FILE=receiver.cert_file,
    )

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert "a loopback address" in job["error"]
    assert receiver.requests == []
