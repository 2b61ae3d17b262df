"""The commands: each checks its input, runs the queue library on one connection and shapes the output.

Every command checks its input before it connects, so a mistyped option
fails with exit code 1 even when the database is unreachable. Commands
run on one autocommit connection, so each change commits at once.
``cleanup`` deletes in short transactions of ``CLEANUP_BATCH_SIZE`` rows,
and ``migrate`` applies each migration in a transaction of its own.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from jobqueue import operations
from jobqueue.cleanup import delete_old_jobs
from jobqueue.cli.output import format_job, format_job_table, format_stats
from jobqueue.config import Settings
from jobqueue.db import Database, build_conninfo, password_source
from jobqueue.enqueue import NewJob, enqueue, validate
from jobqueue.migrations import apply_migrations, pending_migrations
from jobqueue.pagination import decode_cursor, encode_cursor
from jobqueue.stats import queue_stats


@dataclass(frozen=True)
class Output:
    """A command's result: ``data`` for ``--json``, ``text`` for people."""

    data: Any
    text: str


@dataclass(frozen=True)
class Session:
    """The settings read from the environment, and the way to the database they name."""

    settings: Settings

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """Open one autocommit connection, with an IAM token when ``DB_IAM_AUTH`` is on, and close it afterwards."""
        conninfo = build_conninfo(self.settings)
        # max_idle=0: the pool keeps nothing, so the connection closes on release.
        database = Database(conninfo, max_idle=0, password_source=password_source(self.settings, conninfo))
        with database.connection() as conn:
            yield conn


def migrate_command(args: argparse.Namespace, session: Session) -> Output:
    with session.connection() as conn:
        if args.dry_run:
            pending = pending_migrations(conn)
            text = (
                f"pending migrations: {', '.join(pending)}" if pending else "nothing to apply: the schema is up to date"
            )
            return Output({"pending": pending}, text)
        applied = apply_migrations(conn)
    text = f"applied migrations: {', '.join(applied)}" if applied else "nothing to apply: the schema is up to date"
    return Output({"applied": applied}, text)


def stats_command(args: argparse.Namespace, session: Session) -> Output:
    with session.connection() as conn:
        stats = queue_stats(conn)
    return Output(stats, format_stats(stats))


def list_command(args: argparse.Namespace, session: Session) -> Output:
    after = decode_cursor(args.cursor) if args.cursor else None
    with session.connection() as conn:
        page = operations.list_jobs(conn, status=args.status, job_type=args.type, limit=args.limit, after=after)

    next_cursor = encode_cursor(*page.next_cursor) if page.next_cursor else None
    data = {"jobs": [job.to_dict() for job in page.jobs], "nextCursor": next_cursor}
    if not page.jobs:
        return Output(data, "no jobs match")
    text = format_job_table(page.jobs)
    if next_cursor:
        text += f"\n\nnext page: {_next_page_command(args, next_cursor)}"
    return Output(data, text)


def _next_page_command(args: argparse.Namespace, cursor: str) -> str:
    words = ["jobqueue", "list"]
    if args.status:
        words += ["--status", args.status.value]
    if args.type:
        words += ["--type", args.type.value]
    words += ["--limit", str(args.limit), "--cursor", cursor]
    return shlex.join(words)


def show_command(args: argparse.Namespace, session: Session) -> Output:
    with session.connection() as conn:
        job = operations.get_job(conn, args.id)
    return Output(job.to_dict(), format_job(job))


def enqueue_command(args: argparse.Namespace, session: Session) -> Output:
    job = NewJob(
        type=args.type,
        payload=args.payload,
        run_at=args.at,
        delay_seconds=args.delay if args.delay is not None else 0.0,
        max_attempts=args.max_attempts,
        priority=args.priority,
        dedup_key=args.dedup_key,
    )
    max_payload_bytes = session.settings.max_payload_bytes
    validate(job, max_payload_bytes=max_payload_bytes)

    with session.connection() as conn:
        enqueued = enqueue(conn, job, max_payload_bytes=max_payload_bytes)
        stored = operations.get_job(conn, enqueued.id)

    view = stored.to_dict()
    if enqueued.created:
        text = f"enqueued {stored.type.value} job {stored.id}, due at {view['scheduledAt']}"
    else:
        text = (
            f"nothing enqueued: the {stored.status.value} job {stored.id} already holds "
            f"the dedup key {stored.dedup_key!r}"
        )
    return Output({"job": view, "created": enqueued.created}, text)


def cancel_command(args: argparse.Namespace, session: Session) -> Output:
    with session.connection() as conn:
        job = operations.cancel_job(conn, args.id, reason="cancelled with the jobqueue command")
    return Output(job.to_dict(), f"cancelled {job.type.value} job {job.id}")


def retry_command(args: argparse.Namespace, session: Session) -> Output:
    with session.connection() as conn:
        job = operations.retry_job(conn, args.id)
    return Output(job.to_dict(), f"{job.type.value} job {job.id} is PENDING again and due now, with its attempts reset")


def cleanup_command(args: argparse.Namespace, session: Session) -> Output:
    settings = session.settings
    retention_days = args.days or settings.retention_days
    with session.connection() as conn:
        result = delete_old_jobs(conn, retention_days=retention_days, batch_size=settings.cleanup_batch_size)
    data = {
        "deleted": result.total,
        "deletedFinished": result.finished_deleted,
        "deletedFailed": result.failed_deleted,
        "retentionDays": retention_days,
    }
    text = (
        f"deleted {result.total} jobs older than {retention_days} {'day' if retention_days == 1 else 'days'}: "
        f"{result.finished_deleted} completed or cancelled, {result.failed_deleted} failed"
    )
    return Output(data, text)
