"""Migration 0005 on an application database whose user and notification tables already exist."""

from __future__ import annotations

import psycopg
import pytest

from jobqueue.db import connect
from jobqueue.migrations import migrate

# The application's own tables, the way its ORM (Prisma) could have made them:
# an enum for the notification status, and no preference columns on "User".
APPLICATION_TABLES = """
CREATE TYPE "NotificationStatus" AS ENUM ('PENDING', 'SENT', 'FAILED');
CREATE TABLE "User" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "email" TEXT,
    "phone" TEXT
);
CREATE TABLE "Notification" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "incidentId" TEXT,
    "userId" TEXT,
    "channel" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "status" "NotificationStatus" NOT NULL DEFAULT 'PENDING',
    "jobId" TEXT,
    "providerMessageId" TEXT,
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sentAt" TIMESTAMP(3)
);
INSERT INTO "User" (id, name, email) VALUES ('u_app', 'App User', 'app@example.com');
"""


def test_migrate_adds_preferences_to_existing_users(empty_database):
    with psycopg.connect(empty_database, autocommit=True) as app:
        app.execute(APPLICATION_TABLES)

    migrate(empty_database)

    with connect(empty_database) as conn:
        user = conn.execute('SELECT * FROM "User" WHERE id = %s', ("u_app",)).fetchone()
        assert user["emailEnabled"] is True
        assert user["smsEnabled"] is True
        assert user["pushEnabled"] is True
        assert user["email"] == "app@example.com"


def test_migrate_extends_status_enum(empty_database):
    with psycopg.connect(empty_database, autocommit=True) as app:
        app.execute(APPLICATION_TABLES)

    migrate(empty_database)

    with connect(empty_database) as conn:
        values = conn.execute('SELECT unnest(enum_range(NULL::"NotificationStatus"))::text AS value').fetchall()
        assert [row["value"] for row in values] == ["PENDING", "SENT", "FAILED", "SENDING", "RETRYING", "SKIPPED"]
        conn.execute(
            """INSERT INTO "Notification" (id, channel, message, status, "jobId", "updatedAt")
               VALUES ('n1', 'EMAIL', 'm', 'SENDING', 'job-1', now() AT TIME ZONE 'UTC')"""
        )


def test_migrate_creates_devices_and_webhooks(empty_database):
    migrate(empty_database)

    with connect(empty_database) as conn:
        conn.execute("INSERT INTO \"User\" (id, name) VALUES ('u1', 'One')")
        conn.execute(
            """INSERT INTO "UserDevice" (id, "userId", "endpointArn", platform)
               VALUES ('d1', 'u1', 'arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/1', 'GCM')"""
        )
        conn.execute("""INSERT INTO "Webhook" (id, "userId", channel, url) VALUES ('w1', 'u1', 'SLACK', NULL)""")
        device = conn.execute('SELECT * FROM "UserDevice"').fetchone()
        assert device["enabled"] is True
        assert device["disabledReason"] is None
        webhook = conn.execute('SELECT * FROM "Webhook"').fetchone()
        assert webhook["enabled"] is True
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("""INSERT INTO "Webhook" (id, "userId", channel, url) VALUES ('w2', 'u1', 'SMS', 'x')""")
