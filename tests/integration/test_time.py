"""Time: due times and backoff come from the database clock, in UTC, whatever the time zones and the application's clock.

The database clock is replaced for these tests by a function
``fakeclock.now()`` that shadows ``pg_catalog.now()``: the database's
``search_path`` lists ``pg_catalog`` last, so every ``now()`` in the
queue's SQL (and in ``jobqueue_enqueue``) reads the time the test sets.
That lets a test stand on the night a daylight-saving change happens.
"""

from __future__ import annotations

import datetime as datetime_module
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from jobqueue.db import connect
from jobqueue.enqueue import NewJob, enqueue
from jobqueue.stats import queue_stats
from jobqueue_local.invoke import invoke
from tests.conftest import ROOT, load_event
from tests.integration.helpers import job_row, run_processor

NEW_YORK = ZoneInfo("America/New_York")
FAKE_CLOCK_SQL = """
CREATE SCHEMA fakeclock;
CREATE TABLE fakeclock.clock (now timestamptz NOT NULL);
INSERT INTO fakeclock.clock VALUES ('2000-01-01T00:00:00Z');
CREATE FUNCTION fakeclock.now() RETURNS timestamptz LANGUAGE sql STABLE AS $$ SELECT now FROM fakeclock.clock $$;
"""


@pytest.fixture
def fake_clock(conn):
    """Return a function that sets the database clock (a UTC ISO string) for every new session of the test's database."""
    conn.execute(FAKE_CLOCK_SQL)
    conn.execute(f"""ALTER DATABASE "{conn.info.dbname}" SET search_path = fakeclock, "$user", public, pg_catalog""")

    def set_clock(utc: str) -> None:
        conn.execute("UPDATE fakeclock.clock SET now = %s::timestamptz", (utc,))

    return set_clock


def utc(text: str) -> datetime:
    """Return a naive UTC datetime, as the timestamp(3) columns hold it."""
    return datetime.fromisoformat(text).replace(tzinfo=None)


def run_due(database: str) -> list[str]:
    """Run one processor pass that completes every due job; return the ids it ran."""
    ran: list[str] = []
    run_processor(database, lambda job, ctx: ran.append(job.id))
    return ran


@pytest.mark.parametrize(
    ("server_zone", "session_zone"),
    [
        ("UTC", "UTC"),
        ("America/New_York", "America/New_York"),
        ("UTC", "America/New_York"),
        ("America/New_York", "UTC"),
        ("Pacific/Chatham", "Asia/Kolkata"),
    ],
)
def test_fall_back_night_jobs_run_when_due(conn, database, fake_clock, server_zone, session_zone):
    # In New York, 2024-11-03 01:30 happens twice: 05:30Z (EDT) and 06:30Z (EST).
    conn.execute(f"""ALTER DATABASE "{conn.info.dbname}" SET timezone = '{server_zone}'""")
    fake_clock("2024-11-03T05:00:00Z")
    with psycopg.connect(database, autocommit=True, options=f"-c TimeZone={session_zone}") as app:
        first_half_past_one = app.execute(
            "SELECT job_id FROM jobqueue_enqueue('NOTIFICATION', '{}', p_run_at => '2024-11-03 01:30:00-04')"
        ).fetchone()[0]
        second_half_past_one = app.execute(
            "SELECT job_id FROM jobqueue_enqueue('NOTIFICATION', '{}', p_run_at => '2024-11-03 01:30:00-05')"
        ).fetchone()[0]
        in_ninety_minutes = app.execute(
            "SELECT job_id FROM jobqueue_enqueue('NOTIFICATION', '{}', p_delay_seconds => 5400)"
        ).fetchone()[0]
    from_python = enqueue(
        conn, NewJob("NOTIFICATION", {}, run_at=datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK))
    ).id

    assert job_row(conn, first_half_past_one)["scheduledAt"] == utc("2024-11-03T05:30:00")
    for job_id in (second_half_past_one, in_ninety_minutes, from_python):
        assert job_row(conn, job_id)["scheduledAt"] == utc("2024-11-03T06:30:00")

    fake_clock("2024-11-03T05:29:59.999Z")
    assert run_due(database) == []
    fake_clock("2024-11-03T05:30:00Z")
    assert run_due(database) == [first_half_past_one]
    fake_clock("2024-11-03T06:29:59.999Z")
    assert run_due(database) == []
    fake_clock("2024-11-03T06:30:00Z")
    assert sorted(run_due(database)) == sorted([second_half_past_one, in_ninety_minutes, from_python])


def test_spring_forward_backoff_and_lag(conn, database, fake_clock):
    # In New York, 2024-03-10 02:00 EST jumps to 03:00 EDT at 07:00Z.
    fake_clock("2024-03-10T06:59:58Z")
    # A new session: the fixture's own connection started before the clock was swapped in.
    with connect(database) as fresh:
        job_id = enqueue(fresh, NewJob("NOTIFICATION", {})).id
    assert job_row(conn, job_id)["scheduledAt"] == utc("2024-03-10T06:59:58")

    def fail(job, ctx):
        raise ConnectionError("provider unreachable")

    run_processor(database, fail)
    assert job_row(conn, job_id)["scheduledAt"] == utc("2024-03-10T07:00:03")

    fake_clock("2024-03-10T07:01:33Z")
    with connect(database) as fresh:
        assert queue_stats(fresh)["oldestDueAgeSeconds"] == pytest.approx(90)
    assert run_due(database) == [job_id]


def test_processor_sessions_use_utc_in_any_server_zone(conn, database):
    conn.execute(f"""ALTER DATABASE "{conn.info.dbname}" SET timezone = 'America/New_York'""")
    job_id = enqueue(conn, NewJob("NOTIFICATION", {})).id
    seen = []

    def handler(job, ctx):
        seen.append(ctx.conn.execute("SELECT current_setting('TimeZone') AS zone").fetchone()["zone"])

    run_processor(database, handler)
    assert seen == ["UTC"]
    assert job_row(conn, job_id)["status"] == "COMPLETED"


SKEW_SECONDS = 600


class _SkewedDatetime(datetime):
    """A datetime class whose now() runs ten minutes fast, like a badly set application clock."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(seconds=SKEW_SECONDS)

    @classmethod
    def utcnow(cls):
        return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=SKEW_SECONDS)


@pytest.fixture
def fast_app_clock(monkeypatch):
    """Run this process's wall clock ten minutes fast: time.time() and every jobqueue module's datetime.now()."""
    real_time, real_time_ns = time.time, time.time_ns
    monkeypatch.setattr(time, "time", lambda: real_time() + SKEW_SECONDS)
    monkeypatch.setattr(time, "time_ns", lambda: real_time_ns() + SKEW_SECONDS * 10**9)
    for name, module in list(sys.modules.items()):
        if name.startswith(("jobqueue", "_local_lambda_")) and getattr(module, "datetime", None) is datetime:
            monkeypatch.setattr(module, "datetime", _SkewedDatetime)
    monkeypatch.setattr(datetime_module, "datetime", _SkewedDatetime)
    yield
    assert time.time() - real_time() == pytest.approx(SKEW_SECONDS, abs=1)


def seconds_until_due(conn, job_id: str) -> float:
    row = conn.execute(
        """SELECT extract(epoch FROM "scheduledAt" - (now() AT TIME ZONE 'UTC'))::float8 AS s
           FROM "BackgroundJob" WHERE id = %s""",
        (job_id,),
    ).fetchone()
    return row["s"]


def test_app_clock_ten_minutes_fast_changes_nothing(conn, database, fast_app_clock):
    delayed = enqueue(conn, NewJob("NOTIFICATION", {}, delay_seconds=30)).id
    due_now = enqueue(conn, NewJob("NOTIFICATION", {})).id
    event = load_event("api-create-job.json")
    event["body"] = json.dumps({"type": "NOTIFICATION", "payload": {}, "delaySeconds": 30})
    response = invoke(
        "ApiFunction", event, template_path=ROOT / "template.yaml", env_overrides={"DATABASE_URL": database}
    )
    from_api = json.loads(response["body"])["job"]["id"]

    def fail_once(job, ctx):
        if job.id == due_now:
            raise ConnectionError("provider unreachable")

    summary = run_processor(database, fail_once)

    assert 29 <= seconds_until_due(conn, delayed) <= 30
    assert 29 <= seconds_until_due(conn, from_api) <= 30
    assert summary["retried"] == 1
    assert 4 <= seconds_until_due(conn, due_now) <= 5
    assert queue_stats(conn)["oldestDueAgeSeconds"] is None
