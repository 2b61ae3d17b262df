"""Migrations on an empty database and on the application's own database."""

from __future__ import annotations

import threading

import psycopg
import pytest

from jobqueue.db import connect
from jobqueue.migrations import available_migrations, migrate
from tests.integration.helpers import job_row, run_processor

# The jobs table exactly as the application's ORM (Prisma) creates it.
PRISMA_SCHEMA = """
CREATE TYPE "JobType" AS ENUM ('ESCALATION', 'NOTIFICATION', 'AUTO_UNSNOOZE', 'SCHEDULED_TASK');
CREATE TYPE "JobStatus" AS ENUM ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED');
CREATE TABLE "BackgroundJob" (
    "id" TEXT NOT NULL,
    "type" "JobType" NOT NULL,
    "status" "JobStatus" NOT NULL DEFAULT 'PENDING',
    "payload" JSONB NOT NULL,
    "scheduledAt" TIMESTAMP(3) NOT NULL,
    "startedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    "failedAt" TIMESTAMP(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "maxAttempts" INTEGER NOT NULL DEFAULT 3,
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "BackgroundJob_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "BackgroundJob_type_status_scheduledAt_idx" ON "BackgroundJob"("type", "status", "scheduledAt");
CREATE INDEX "BackgroundJob_status_scheduledAt_idx" ON "BackgroundJob"("status", "scheduledAt");
CREATE INDEX "BackgroundJob_scheduledAt_idx" ON "BackgroundJob"("scheduledAt");
"""

COLUMNS = """
SELECT column_name, data_type, datetime_precision, is_nullable, column_default
FROM information_schema.columns
WHERE table_name = 'BackgroundJob'
ORDER BY column_name
"""


def columns(url: str) -> dict[str, tuple]:
    with connect(url) as conn:
        return {
            row["column_name"]: (row["data_type"], row["datetime_precision"], row["is_nullable"])
            for row in conn.execute(COLUMNS)
        }


def test_migrate_empty_database_applies_all(empty_database):
    applied = migrate(empty_database)
    assert applied == [name for name, _ in available_migrations()]
    assert migrate(empty_database) == []


def test_migrate_twice_changes_nothing(empty_database):
    migrate(empty_database)
    before = columns(empty_database)
    with connect(empty_database) as conn:
        indexes_before = conn.execute("SELECT indexname FROM pg_indexes ORDER BY 1").fetchall()
    assert migrate(empty_database) == []
    with connect(empty_database) as conn:
        assert conn.execute("SELECT indexname FROM pg_indexes ORDER BY 1").fetchall() == indexes_before
    assert columns(empty_database) == before


def test_migrate_concurrently_applies_once(empty_database):
    results, errors = [], []

    def run():
        try:
            results.append(migrate(empty_database))
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 0, 0, len(available_migrations())]


def test_migrate_existing_application_database(empty_database):
    with psycopg.connect(empty_database, autocommit=True) as app:
        app.execute(PRISMA_SCHEMA)
        # A job inserted the way the application does it, before migrating.
        app.execute(
            """INSERT INTO "BackgroundJob" (id, type, payload, "scheduledAt", "updatedAt")
               VALUES ('cl_app_1', 'SCHEDULED_TASK', '{"task": "noop"}',
                       (now() AT TIME ZONE 'UTC') - interval '1 minute', now() AT TIME ZONE 'UTC')"""
        )
    application_columns = columns(empty_database)

    migrate(empty_database)

    migrated = columns(empty_database)
    for name, shape in application_columns.items():
        assert migrated[name] == shape, f"migrations changed the application's column {name}"
    assert migrated["scheduledAt"] == ("timestamp without time zone", 3, "NO")
    assert {"priority", "dedupKey", "leaseOwner", "leaseExpiresAt", "errorHistory", "result"} <= set(migrated)

    summary = run_processor(empty_database, lambda job, ctx: None)
    assert summary["processed"] == 1
    with connect(empty_database) as conn:
        row = job_row(conn, "cl_app_1")
        assert row["status"] == "COMPLETED"
        # The application's own insert still works after migrating.
        conn.execute(
            """INSERT INTO "BackgroundJob" (id, type, payload, "scheduledAt", "updatedAt")
               VALUES ('cl_app_2', 'NOTIFICATION', '{}', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"""
        )
        assert job_row(conn, "cl_app_2")["errorHistory"] == []


def test_migrate_fresh_and_existing_schemas_match(empty_database, server_url, admin):
    from tests.conftest import create_database, database_url

    with psycopg.connect(empty_database, autocommit=True) as app:
        app.execute(PRISMA_SCHEMA)
    migrate(empty_database)
    fresh_name = create_database(admin)
    try:
        fresh = database_url(server_url, fresh_name)
        migrate(fresh)
        assert columns(fresh) == columns(empty_database)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{fresh_name}" WITH (FORCE)')


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
def test_due_time_independent_of_server_time_zone(empty_database, admin, zone):
    from jobqueue.enqueue import NewJob, enqueue

    name = psycopg.conninfo.conninfo_to_dict(empty_database)["dbname"]
    admin.execute(f"ALTER DATABASE \"{name}\" SET timezone TO '{zone}'")
    migrate(empty_database)
    with psycopg.connect(empty_database, autocommit=True) as app:
        assert app.execute("SHOW timezone").fetchone()[0] == zone
        # Prisma writes UTC wall-clock times into timestamp(3) columns.
        app.execute(
            """INSERT INTO "BackgroundJob" (id, type, payload, "scheduledAt", "updatedAt")
               VALUES ('due', 'SCHEDULED_TASK', '{}', (now() AT TIME ZONE 'UTC') - interval '1 second', now())"""
        )
        app.execute(
            """INSERT INTO "BackgroundJob" (id, type, payload, "scheduledAt", "updatedAt")
               VALUES ('later', 'SCHEDULED_TASK', '{}', (now() AT TIME ZONE 'UTC') + interval '30 minutes', now())"""
        )
    with connect(empty_database) as conn:
        queued = enqueue(conn, NewJob("SCHEDULED_TASK", {}, delay_seconds=600))
        delay = conn.execute(
            """SELECT extract(epoch FROM "scheduledAt" - (now() AT TIME ZONE 'UTC'))::float8 AS s
               FROM "BackgroundJob" WHERE id = %s""",
            (queued.id,),
        ).fetchone()["s"]
    assert 595 <= delay <= 600
    ran = []
    run_processor(empty_database, lambda job, ctx: ran.append(job.id))
    assert ran == ["due"]
