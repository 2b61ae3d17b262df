"""The four job handlers run by the real processor against a real PostgreSQL.

Each test seeds the incident tables with SQL, enqueues a job, runs one
processor pass and checks the job's row and the rows the handler wrote.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from jobqueue.db import connect
from jobqueue.enqueue import NewJob, enqueue
from jobqueue.incident_jobs import escalation_key
from jobqueue.transports import (
    Delivery,
    PermanentDeliveryError,
    SendResult,
    TransientDeliveryError,
    register_transport,
    unregister_transport,
)
from jobqueue_local.invoke import invoke
from tests.conftest import ROOT, load_event
from tests.integration.helpers import job_row, make_due, run_processor

# -- seeding -----------------------------------------------------------------


def add_user(conn, user_id: str, *, name: str | None = None) -> None:
    conn.execute(
        'INSERT INTO "User" (id, name, email, phone) VALUES (%s, %s, %s, %s)',
        (user_id, name or f"User {user_id}", f"{user_id}@example.com", "+15550100"),
    )


def add_team(conn, team_id: str, member_ids: list[str]) -> None:
    conn.execute('INSERT INTO "Team" (id, name) VALUES (%s, %s)', (team_id, f"Team {team_id}"))
    for user_id in member_ids:
        conn.execute(
            'INSERT INTO "TeamMember" (id, "teamId", "userId") VALUES (%s, %s, %s)',
            (f"{team_id}-{user_id}", team_id, user_id),
        )


def add_policy(conn, policy_id: str, rules: list[tuple[int, int, str, str, list[str]]]) -> None:
    """Add a policy whose rules are (stepIndex, delayMinutes, targetType, targetId, channels)."""
    conn.execute('INSERT INTO "EscalationPolicy" (id, name) VALUES (%s, %s)', (policy_id, f"Policy {policy_id}"))
    for step_index, delay_minutes, target_type, target_id, channels in rules:
        conn.execute(
            """INSERT INTO "EscalationRule"
               (id, "policyId", "stepIndex", "delayMinutes", "targetType", "targetId", channels)
               VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (
                f"{policy_id}-{step_index}-{target_id}",
                policy_id,
                step_index,
                delay_minutes,
                target_type,
                target_id,
                channels,
            ),
        )


def add_service(conn, service_id: str, *, policy_id: str | None) -> None:
    conn.execute(
        'INSERT INTO "Service" (id, name, "escalationPolicyId") VALUES (%s, %s, %s)',
        (service_id, f"svc-{service_id}", policy_id),
    )


def add_incident(
    conn,
    incident_id: str,
    *,
    status: str = "OPEN",
    service_id: str | None = None,
    policy_id: str | None = None,
    snoozed_for_seconds: float | None = None,
) -> None:
    """Add an incident; ``snoozed_for_seconds`` sets "snoozedUntil" relative to the database clock."""
    conn.execute(
        """INSERT INTO "Incident" (id, title, status, urgency, "serviceId", "escalationPolicyId", "snoozedUntil")
           VALUES (%(id)s, %(title)s, %(status)s, 'HIGH', %(service)s, %(policy)s,
                   CASE WHEN %(snooze)s::float8 IS NULL THEN NULL
                        ELSE (now() AT TIME ZONE 'UTC') + make_interval(secs => %(snooze)s::float8) END)""",
        {
            "id": incident_id,
            "title": f"Database down {incident_id}",
            "status": status,
            "service": service_id,
            "policy": policy_id,
            "snooze": snoozed_for_seconds,
        },
    )


def seed_escalation(conn) -> None:
    """Incident i1 on service s1, whose policy p1 has a USER step, a TEAM step and a third step."""
    for user_id in ("alice", "bob", "carol"):
        add_user(conn, user_id)
    add_team(conn, "ops", ["bob", "carol"])
    add_policy(
        conn,
        "p1",
        [
            (0, 0, "USER", "alice", ["EMAIL", "SMS"]),
            (1, 15, "TEAM", "ops", ["EMAIL", "SLACK"]),
            (2, 30, "USER", "alice", ["PUSH"]),
        ],
    )
    add_service(conn, "s1", policy_id="p1")
    add_incident(conn, "i1", service_id="s1")


# -- reading results ---------------------------------------------------------


def enqueue_job(conn, job_type: str, payload: dict, **options) -> str:
    return enqueue(conn, NewJob(job_type, payload, **options)).id


def jobs_of_type(conn, job_type: str) -> list[dict]:
    return conn.execute(
        'SELECT * FROM "BackgroundJob" WHERE type = %s ORDER BY "createdAt", id', (job_type,)
    ).fetchall()


def notification_pairs(conn) -> set[tuple[str, str]]:
    return {(job["payload"]["userId"], job["payload"]["channel"]) for job in jobs_of_type(conn, "NOTIFICATION")}


def seconds_until(conn, job_id: str) -> float:
    row = conn.execute(
        """SELECT extract(epoch FROM "scheduledAt" - (now() AT TIME ZONE 'UTC'))::float8 AS seconds
           FROM "BackgroundJob" WHERE id = %s""",
        (job_id,),
    ).fetchone()
    return row["seconds"]


def incident_row(conn, incident_id: str) -> dict:
    return conn.execute('SELECT * FROM "Incident" WHERE id = %s', (incident_id,)).fetchone()


def incident_events(conn, incident_id: str) -> list[dict]:
    return conn.execute(
        'SELECT * FROM "IncidentEvent" WHERE "incidentId" = %s ORDER BY "createdAt", id', (incident_id,)
    ).fetchall()


def notification_rows(conn, job_id: str) -> list[dict]:
    return conn.execute('SELECT * FROM "Notification" WHERE "jobId" = %s ORDER BY "createdAt"', (job_id,)).fetchall()


# -- a transport the tests control --------------------------------------------


@dataclass
class FakeTransport:
    """Records deliveries and fails the first ``failures`` sends with ``error``."""

    error: Exception | None = None
    failures: int = 0
    sent: list[Delivery] = field(default_factory=list)
    calls: int = 0

    def send(self, delivery: Delivery) -> SendResult:
        self.calls += 1
        if self.error is not None and self.calls <= self.failures:
            raise self.error
        self.sent.append(delivery)
        return SendResult(provider_message_id=f"fake-{self.calls}")


@pytest.fixture
def fake_transport():
    """Replace the ``log`` transport (the default NOTIFY_TRANSPORT) with a ``FakeTransport``, then restore it."""
    transport = FakeTransport()
    previous = register_transport("log", lambda: transport)
    yield transport
    register_transport("log", previous)


# -- ESCALATION --------------------------------------------------------------


def test_escalation_notifies_user_target(conn, database):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 0})

    summary = run_processor(database, types=("ESCALATION",))

    assert summary["processed"] == 1
    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"] == {"notified": 2, "nextStep": 1}
    assert notification_pairs(conn) == {("alice", "EMAIL"), ("alice", "SMS")}
    notification = jobs_of_type(conn, "NOTIFICATION")[0]
    assert notification["status"] == "PENDING"
    assert notification["payload"]["incidentId"] == "i1"
    assert notification["payload"]["message"] == (
        "[HIGH] Database down i1 (service svc-s1) is unacknowledged: escalation step 0"
    )
    assert {job["dedupKey"] for job in jobs_of_type(conn, "NOTIFICATION")} == {
        "escalation:i1:0:alice:EMAIL",
        "escalation:i1:0:alice:SMS",
    }


def test_escalation_notifies_team_members(conn, database):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 1})

    run_processor(database, types=("ESCALATION",))

    assert job_row(conn, job_id)["result"] == {"notified": 4, "nextStep": 2}
    assert notification_pairs(conn) == {
        ("bob", "EMAIL"),
        ("bob", "SLACK"),
        ("carol", "EMAIL"),
        ("carol", "SLACK"),
    }


def test_escalation_schedules_next_step_after_delay(conn, database):
    seed_escalation(conn)
    enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 0})

    run_processor(database, types=("ESCALATION",))

    pending = [job for job in jobs_of_type(conn, "ESCALATION") if job["status"] == "PENDING"]
    assert len(pending) == 1
    assert pending[0]["payload"] == {"incidentId": "i1", "stepIndex": 1}
    assert pending[0]["dedupKey"] == escalation_key("i1", 1)
    # Step 1's rule has delayMinutes 15.
    assert 15 * 60 - 5 <= seconds_until(conn, pending[0]["id"]) <= 15 * 60


def test_escalation_records_event_and_step(conn, database):
    seed_escalation(conn)
    enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 1})

    run_processor(database, types=("ESCALATION",))

    assert incident_row(conn, "i1")["currentEscalationStep"] == 1
    events = incident_events(conn, "i1")
    assert len(events) == 1
    assert events[0]["type"] == "ESCALATED"
    assert events[0]["data"]["step"] == 1
    assert sorted(events[0]["data"]["userIds"]) == ["bob", "carol"]
    assert sorted(events[0]["data"]["channels"]) == ["EMAIL", "SLACK"]


def test_escalation_incident_policy_overrides_service_policy(conn, database):
    seed_escalation(conn)
    add_policy(conn, "p2", [(0, 0, "USER", "carol", ["SMS"])])
    add_incident(conn, "i2", service_id="s1", policy_id="p2")
    enqueue_job(conn, "ESCALATION", {"incidentId": "i2", "stepIndex": 0})

    run_processor(database, types=("ESCALATION",))

    assert notification_pairs(conn) == {("carol", "SMS")}


def test_escalation_last_step_schedules_nothing(conn, database):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 2})

    run_processor(database, types=("ESCALATION",))

    assert job_row(conn, job_id)["result"] == {"notified": 1, "nextStep": None}
    assert [job["id"] for job in jobs_of_type(conn, "ESCALATION")] == [job_id]


@pytest.mark.parametrize("status", ["ACKNOWLEDGED", "RESOLVED", "SNOOZED"])
def test_escalation_incident_not_open_skipped(conn, database, status):
    seed_escalation(conn)
    conn.execute('UPDATE "Incident" SET status = %s WHERE id = %s', (status, "i1"))
    job_id = enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 0})

    run_processor(database, types=("ESCALATION",))

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"] == {"skipped": f"incident is {status}"}
    assert jobs_of_type(conn, "NOTIFICATION") == []
    assert incident_events(conn, "i1") == []
    assert len(jobs_of_type(conn, "ESCALATION")) == 1


def test_escalation_exhausted_policy_skipped(conn, database):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 3})

    run_processor(database, types=("ESCALATION",))

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"] == {"skipped": "policy exhausted", "policyId": "p1"}
    assert jobs_of_type(conn, "NOTIFICATION") == []


def test_escalation_without_policy_skipped(conn, database):
    add_service(conn, "bare", policy_id=None)
    add_incident(conn, "i9", service_id="bare")
    job_id = enqueue_job(conn, "ESCALATION", {"incidentId": "i9", "stepIndex": 0})

    run_processor(database, types=("ESCALATION",))

    assert job_row(conn, job_id)["result"] == {"skipped": "policy exhausted", "policyId": None}


def test_escalation_missing_incident_cancelled(conn, database):
    job_id = enqueue_job(conn, "ESCALATION", {"incidentId": "gone", "stepIndex": 0})

    run_processor(database, types=("ESCALATION",))

    job = job_row(conn, job_id)
    assert job["status"] == "CANCELLED"
    assert "'gone'" in job["result"]["cancelled"]


def test_escalation_waits_for_concurrent_acknowledgement(conn, database):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 0})

    # Another session acknowledges the incident while the job runs: the
    # job must wait for that transaction and then see ACKNOWLEDGED.
    with connect(database, autocommit=False) as acknowledger:
        acknowledger.execute("""UPDATE "Incident" SET status = 'ACKNOWLEDGED' WHERE id = 'i1'""")
        runner = threading.Thread(target=run_processor, args=(database,))
        runner.start()
        deadline = time.monotonic() + 10
        while not _waiting_for_lock(conn) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_for_lock(conn), "the escalation job never waited for the incident row lock"
        acknowledger.commit()
    runner.join(timeout=30)

    assert job_row(conn, job_id)["result"] == {"skipped": "incident is ACKNOWLEDGED"}
    assert jobs_of_type(conn, "NOTIFICATION") == []


def _waiting_for_lock(conn) -> bool:
    row = conn.execute(
        """SELECT count(*) AS waiting FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'"""
    ).fetchone()
    return row["waiting"] > 0


# -- bad payloads --------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_type", "payload", "field_name"),
    [
        ("ESCALATION", {"stepIndex": 0}, "payload.incidentId"),
        ("ESCALATION", {"incidentId": "i1", "stepIndex": "0"}, "payload.stepIndex"),
        ("ESCALATION", {"incidentId": "i1", "stepIndex": -1}, "payload.stepIndex"),
        ("ESCALATION", {"incidentId": "i1", "stepIndex": True}, "payload.stepIndex"),
        ("NOTIFICATION", {"incidentId": "i1", "channel": "EMAIL", "message": "m"}, "payload.userId"),
        ("NOTIFICATION", {"incidentId": "i1", "userId": "alice", "channel": "FAX", "message": "m"}, "payload.channel"),
        ("NOTIFICATION", {"incidentId": 7, "userId": "alice", "channel": "SMS", "message": "m"}, "payload.incidentId"),
        ("NOTIFICATION", {"incidentId": "i1", "userId": "alice", "channel": "SMS"}, "payload.message"),
        ("AUTO_UNSNOOZE", {}, "payload.incidentId"),
        ("SCHEDULED_TASK", {"task": ""}, "payload.task"),
        ("SCHEDULED_TASK", {"task": "noop", "args": [1]}, "payload.args"),
    ],
)
def test_handler_bad_payload_fails_permanently(conn, database, job_type, payload, field_name):
    job_id = enqueue_job(conn, job_type, payload)

    run_processor(database)

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert job["attempts"] == 1
    assert field_name in job["error"]
    assert job["errorHistory"][0]["kind"] == "permanent"


# -- NOTIFICATION ------------------------------------------------------------


def notification_payload(**overrides) -> dict:
    payload = {"incidentId": "i1", "userId": "alice", "channel": "EMAIL", "message": "Secret body text"}
    payload.update(overrides)
    return payload


def test_notification_log_transport_records_sent(conn, database, log_records):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "NOTIFICATION", notification_payload())

    run_processor(database)

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"] == {"providerMessageId": f"log-{job_id}"}
    rows = notification_rows(conn, job_id)
    assert len(rows) == 1
    assert rows[0]["status"] == "SENT"
    assert rows[0]["providerMessageId"] == f"log-{job_id}"
    assert rows[0]["sentAt"] is not None
    assert rows[0]["userId"] == "alice"
    assert rows[0]["incidentId"] == "i1"
    assert rows[0]["channel"] == "EMAIL"
    assert rows[0]["message"] == "Secret body text"

    sent_lines = [line for line in log_records() if line.get("action") == "notification_sent"]
    assert len(sent_lines) == 1
    assert sent_lines[0]["level"] == "INFO"
    assert sent_lines[0]["job_id"] == job_id
    assert sent_lines[0]["channel"] == "EMAIL"
    assert sent_lines[0]["user_id"] == "alice"
    assert sent_lines[0]["incident_id"] == "i1"
    assert sent_lines[0]["provider_message_id"] == f"log-{job_id}"


def test_notification_logs_omit_private_data(conn, database, log_records):
    seed_escalation(conn)
    enqueue_job(conn, "NOTIFICATION", notification_payload())

    run_processor(database)

    text = "\n".join(str(line) for line in log_records())
    assert "Secret body text" not in text
    assert "alice@example.com" not in text
    assert "+15550100" not in text


def test_notification_delivery_has_user_and_incident(conn, database, fake_transport):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "NOTIFICATION", notification_payload(channel="SMS"))

    run_processor(database)

    (delivery,) = fake_transport.sent
    assert delivery.job_id == job_id
    assert delivery.channel == "SMS"
    assert delivery.message == "Secret body text"
    assert delivery.user.id == "alice"
    assert delivery.user.email == "alice@example.com"
    assert delivery.user.phone == "+15550100"
    assert delivery.incident.id == "i1"
    assert delivery.incident.status == "OPEN"
    assert delivery.incident.urgency == "HIGH"
    assert delivery.incident.service_name == "svc-s1"
    assert "alice@example.com" not in repr(delivery)
    assert "Secret body text" not in repr(delivery)


def test_notification_without_incident_sent(conn, database, fake_transport):
    add_user(conn, "alice")
    job_id = enqueue_job(conn, "NOTIFICATION", notification_payload(incidentId=None))

    run_processor(database)

    assert job_row(conn, job_id)["status"] == "COMPLETED"
    assert fake_transport.sent[0].incident is None
    assert notification_rows(conn, job_id)[0]["incidentId"] is None


def test_notification_already_sent_not_sent_again(conn, database, fake_transport):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "NOTIFICATION", notification_payload())
    conn.execute(
        """INSERT INTO "Notification" (id, "incidentId", "userId", channel, message, status, "jobId",
                                       "providerMessageId", "sentAt")
           VALUES ('n-earlier', 'i1', 'alice', 'EMAIL', 'm', 'SENT', %s, 'provider-1', now() AT TIME ZONE 'UTC')""",
        (job_id,),
    )

    run_processor(database)

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"] == {"alreadySent": True, "providerMessageId": "provider-1"}
    assert fake_transport.calls == 0
    assert len(notification_rows(conn, job_id)) == 1


def test_notification_missing_user_skipped(conn, database, fake_transport):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "NOTIFICATION", notification_payload(userId="nobody"))

    run_processor(database)

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"] == {"skipped": "user not found", "userId": "nobody"}
    rows = notification_rows(conn, job_id)
    assert len(rows) == 1
    assert rows[0]["status"] == "SKIPPED"
    assert rows[0]["error"] == "user not found"
    assert rows[0]["sentAt"] is None
    assert fake_transport.calls == 0


def test_notification_transient_error_retried(conn, database, fake_transport):
    seed_escalation(conn)
    fake_transport.error = TransientDeliveryError("provider throttled the request")
    fake_transport.failures = 1
    job_id = enqueue_job(conn, "NOTIFICATION", notification_payload())

    first = run_processor(database)

    job = job_row(conn, job_id)
    assert first["retried"] == 1
    assert job["status"] == "PENDING"
    assert job["attempts"] == 1
    assert "provider throttled the request" in job["error"]
    assert 4 <= seconds_until(conn, job_id) <= 5
    (row,) = notification_rows(conn, job_id)
    assert row["status"] == "RETRYING"
    assert row["error"] == "provider throttled the request"
    assert row["sentAt"] is None

    make_due(conn, job_id)
    run_processor(database)

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["attempts"] == 2
    rows = notification_rows(conn, job_id)
    assert [(r["id"], r["status"]) for r in rows] == [(row["id"], "SENT")]
    assert rows[0]["error"] is None
    assert len(fake_transport.sent) == 1


def test_notification_last_attempt_failure_recorded(conn, database, fake_transport):
    seed_escalation(conn)
    fake_transport.error = TransientDeliveryError("provider timed out")
    fake_transport.failures = 10
    job_id = enqueue_job(conn, "NOTIFICATION", notification_payload(), max_attempts=1)

    run_processor(database)

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert "last attempt" in job["error"]
    rows = notification_rows(conn, job_id)
    assert [row["status"] for row in rows] == ["FAILED"]
    assert rows[0]["error"] == "provider timed out"


def test_notification_permanent_error_keeps_failed_row(conn, database, fake_transport):
    seed_escalation(conn)
    fake_transport.error = PermanentDeliveryError("recipient address rejected")
    fake_transport.failures = 1
    job_id = enqueue_job(conn, "NOTIFICATION", notification_payload())

    summary = run_processor(database)

    job = job_row(conn, job_id)
    assert summary["failed"] == 1
    assert job["status"] == "FAILED"
    assert job["attempts"] == 1
    assert "recipient address rejected" in job["error"]
    rows = notification_rows(conn, job_id)
    assert len(rows) == 1
    assert rows[0]["status"] == "FAILED"
    assert rows[0]["error"] == "recipient address rejected"
    assert rows[0]["sentAt"] is None


def test_notification_unknown_transport_fails(conn, database):
    seed_escalation(conn)
    job_id = enqueue_job(conn, "NOTIFICATION", notification_payload())
    aws_factory = register_transport("aws", lambda: None)
    unregister_transport("aws")
    try:
        run_processor(database, env={"NOTIFY_TRANSPORT": "aws"})
    finally:
        register_transport("aws", aws_factory)

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert "'aws' is not registered" in job["error"]
    assert "registered transports: log" in job["error"]
    assert notification_rows(conn, job_id) == []


def test_escalation_notifications_delivered_in_next_run(conn, database, fake_transport):
    seed_escalation(conn)
    for user_id in ("bob", "carol"):
        conn.execute(
            """INSERT INTO "Webhook" (id, "userId", channel, url) VALUES (%s, %s, 'SLACK', %s)""",
            (f"wh-{user_id}", user_id, f"https://hooks.example.com/{user_id}"),
        )
    enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 1})

    run_processor(database)
    run_processor(database)

    assert {(d.user.id, d.channel) for d in fake_transport.sent} == {
        ("bob", "EMAIL"),
        ("bob", "SLACK"),
        ("carol", "EMAIL"),
        ("carol", "SLACK"),
    }
    statuses = conn.execute('SELECT status, count(*) AS n FROM "Notification" GROUP BY status').fetchall()
    assert statuses == [{"status": "SENT", "n": 4}]


# -- AUTO_UNSNOOZE -----------------------------------------------------------


def test_auto_unsnooze_reopens_due_incident(conn, database):
    seed_escalation(conn)
    conn.execute("""UPDATE "Incident" SET status = 'SNOOZED',
                    "snoozedUntil" = (now() AT TIME ZONE 'UTC') - interval '1 second' WHERE id = 'i1'""")
    job_id = enqueue_job(conn, "AUTO_UNSNOOZE", {"incidentId": "i1"})

    run_processor(database, types=("AUTO_UNSNOOZE",))

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"]["reopened"] is True
    incident = incident_row(conn, "i1")
    assert incident["status"] == "OPEN"
    assert incident["snoozedUntil"] is None
    assert [event["type"] for event in incident_events(conn, "i1")] == ["UNSNOOZED"]


def test_auto_unsnooze_restarts_escalation_at_step_zero(conn, database):
    seed_escalation(conn)
    conn.execute("""UPDATE "Incident" SET status = 'SNOOZED', "currentEscalationStep" = 2,
                    "snoozedUntil" = (now() AT TIME ZONE 'UTC') - interval '1 second' WHERE id = 'i1'""")
    job_id = enqueue_job(conn, "AUTO_UNSNOOZE", {"incidentId": "i1"})

    run_processor(database, types=("AUTO_UNSNOOZE",))

    (escalation,) = jobs_of_type(conn, "ESCALATION")
    assert escalation["id"] == job_row(conn, job_id)["result"]["escalationJobId"]
    assert escalation["payload"] == {"incidentId": "i1", "stepIndex": 0}
    assert escalation["dedupKey"] == escalation_key("i1", 0)
    assert seconds_until(conn, escalation["id"]) <= 0

    run_processor(database, types=("ESCALATION",))

    assert job_row(conn, escalation["id"])["result"] == {"notified": 2, "nextStep": 1}
    assert incident_row(conn, "i1")["currentEscalationStep"] == 0


def test_auto_unsnooze_cancels_stale_escalation_steps(conn, database):
    seed_escalation(conn)
    stale = enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 1})
    conn.execute("""UPDATE "BackgroundJob" SET "scheduledAt" = "scheduledAt" + interval '1 hour' WHERE id = %s""", (stale,))
    conn.execute("""UPDATE "Incident" SET status = 'SNOOZED',
                    "snoozedUntil" = (now() AT TIME ZONE 'UTC') - interval '1 second' WHERE id = 'i1'""")
    enqueue_job(conn, "AUTO_UNSNOOZE", {"incidentId": "i1"})

    run_processor(database, types=("AUTO_UNSNOOZE",))

    assert job_row(conn, stale)["status"] == "CANCELLED"
    pending = [job for job in jobs_of_type(conn, "ESCALATION") if job["status"] == "PENDING"]
    assert [job["payload"]["stepIndex"] for job in pending] == [0]


def test_auto_unsnooze_deadline_moved_reschedules(conn, database):
    seed_escalation(conn)
    conn.execute("""UPDATE "Incident" SET status = 'SNOOZED',
                    "snoozedUntil" = (now() AT TIME ZONE 'UTC') + interval '1 hour' WHERE id = 'i1'""")
    job_id = enqueue_job(conn, "AUTO_UNSNOOZE", {"incidentId": "i1"})

    summary = run_processor(database, types=("AUTO_UNSNOOZE",))

    job = job_row(conn, job_id)
    deadline = incident_row(conn, "i1")["snoozedUntil"]
    assert summary["snoozed"] == 1
    assert job["status"] == "PENDING"
    assert job["attempts"] == 0
    assert job["scheduledAt"] == deadline
    assert incident_row(conn, "i1")["status"] == "SNOOZED"
    assert jobs_of_type(conn, "ESCALATION") == []


@pytest.mark.parametrize("status", ["OPEN", "ACKNOWLEDGED", "RESOLVED"])
def test_auto_unsnooze_not_snoozed_cancelled(conn, database, status):
    seed_escalation(conn)
    conn.execute('UPDATE "Incident" SET status = %s WHERE id = %s', (status, "i1"))
    job_id = enqueue_job(conn, "AUTO_UNSNOOZE", {"incidentId": "i1"})

    run_processor(database, types=("AUTO_UNSNOOZE",))

    job = job_row(conn, job_id)
    assert job["status"] == "CANCELLED"
    assert job["result"] == {"cancelled": "incident is no longer snoozed"}
    assert incident_row(conn, "i1")["status"] == status
    assert jobs_of_type(conn, "ESCALATION") == []


def test_auto_unsnooze_missing_incident_cancelled(conn, database):
    job_id = enqueue_job(conn, "AUTO_UNSNOOZE", {"incidentId": "gone"})

    run_processor(database, types=("AUTO_UNSNOOZE",))

    assert job_row(conn, job_id)["status"] == "CANCELLED"


# -- SCHEDULED_TASK ----------------------------------------------------------


def test_scheduled_task_noop_completes(conn, database):
    job_id = enqueue_job(conn, "SCHEDULED_TASK", {"task": "noop"})

    run_processor(database)

    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"] is None


def test_scheduled_task_sleep_returns_result(conn, database):
    job_id = enqueue_job(conn, "SCHEDULED_TASK", {"task": "sleep", "args": {"seconds": 0.2}})

    started = time.monotonic()
    run_processor(database)

    assert time.monotonic() - started >= 0.2
    job = job_row(conn, job_id)
    assert job["status"] == "COMPLETED"
    assert job["result"] == {"sleptSeconds": 0.2}


def test_scheduled_task_sleeps_overlap(conn, database):
    for _ in range(4):
        enqueue_job(conn, "SCHEDULED_TASK", {"task": "sleep", "args": {"seconds": 0.5}})

    summary = run_processor(database)

    assert summary["processed"] == 4
    # Four sleeps on the default eight worker threads run side by side: each
    # starts before any of them finishes.
    spans = conn.execute('SELECT max("startedAt") AS last_start, min("completedAt") AS first_end FROM "BackgroundJob"').fetchone()
    assert spans["last_start"] < spans["first_end"]


@pytest.mark.parametrize("seconds", [-1, 61, "5", None])
def test_scheduled_task_sleep_out_of_range_fails(conn, database, seconds):
    job_id = enqueue_job(conn, "SCHEDULED_TASK", {"task": "sleep", "args": {"seconds": seconds}})

    run_processor(database)

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert job["attempts"] == 1
    assert "args.seconds" in job["error"]


def test_scheduled_task_unknown_fails_listing_tasks(conn, database):
    job_id = enqueue_job(conn, "SCHEDULED_TASK", {"task": "launch_rockets"})

    run_processor(database)

    job = job_row(conn, job_id)
    assert job["status"] == "FAILED"
    assert job["attempts"] == 1
    assert "'launch_rockets' is not registered" in job["error"]
    assert "noop" in job["error"]
    assert "sleep" in job["error"]


# -- through the Lambda entry point ------------------------------------------


def test_processor_function_escalates_and_notifies(conn, database):
    seed_escalation(conn)
    escalation_id = enqueue_job(conn, "ESCALATION", {"incidentId": "i1", "stepIndex": 0})
    event = load_event("processor-scheduled.json")
    env = {"DATABASE_URL": database, "NOTIFY_TRANSPORT": "log"}

    first = invoke("ProcessorFunction", event, template_path=ROOT / "template.yaml", env_overrides=env)
    # The NOTIFICATION jobs commit with the escalation, so the first run may
    # or may not claim them; the second run finishes whatever is left.
    second = invoke("ProcessorFunction", event, template_path=ROOT / "template.yaml", env_overrides=env)

    assert first["processed"] >= 1
    assert first["processed"] + second["processed"] == 3
    assert job_row(conn, escalation_id)["result"] == {"notified": 2, "nextStep": 1}
    rows = conn.execute('SELECT channel, status, "userId" FROM "Notification" ORDER BY channel').fetchall()
    assert rows == [
        {"channel": "EMAIL", "status": "SENT", "userId": "alice"},
        {"channel": "SMS", "status": "SENT", "userId": "alice"},
    ]
