"""Figures that depend on history: claim latency, statistics and cleanup on a table of finished jobs.

The table contains ``pending_jobs`` due jobs and a growing number of
finished ones, bulk-loaded with INSERT ... SELECT generate_series. At
each step of ``history_steps`` the benchmark claims a batch and releases
it again, so the pending count never changes. At the last step (5 M
finished jobs in a full run) it also times the statistics query and then
cleanup. The finished jobs are spread evenly over the last
``history_days`` days, so each cleanup run, with a retention one day
shorter than the run before, deletes one day's share: what a daily
cleanup deletes.
"""

from __future__ import annotations

import math
import statistics
import time

import psycopg

from bench.jobs import load_due_jobs
from bench.report import Figure
from bench.server import BenchError, Server, checkpoint
from bench.settings import BenchSettings
from jobqueue import db
from jobqueue.claim import claim_due_jobs, release_jobs
from jobqueue.cleanup import delete_old_jobs
from jobqueue.config import CLEANUP_BATCH_SIZE
from jobqueue.migrations import migrate
from jobqueue.sql import queries
from jobqueue.stats import queue_stats

LOAD_CHUNK_ROWS = 1_000_000
CLAIM_WARMUP = 3
CLAIM_OWNER = "bench-claim"
CLAIM_LEASE_SECONDS = 900

# One row per i in [first, last] of a step of `total` rows, finished at an
# even spacing over the last `days` days, in time order as a real history
# grows. Every 20th job FAILED after 3 attempts, every 20th CANCELLED, the
# rest COMPLETED; the four types take turns, with the payloads the
# handlers read. Ids are random UUIDs, as the queue makes them.
INSERT_FINISHED_JOBS = """
INSERT INTO "BackgroundJob" (
    id, type, status, payload, "scheduledAt", "startedAt", "completedAt", "failedAt",
    attempts, "maxAttempts", error, "createdAt", "updatedAt", priority, "errorHistory", result
)
SELECT
    gen_random_uuid()::text,
    kind,
    state,
    CASE kind
        WHEN 'ESCALATION' THEN jsonb_build_object('incidentId', 'inc_' || i %% 50000, 'stepIndex', i %% 3)
        WHEN 'NOTIFICATION' THEN jsonb_build_object(
            'incidentId', 'inc_' || i %% 50000, 'userId', 'user_' || i %% 500, 'channel', 'EMAIL',
            'message', 'Incident opened: checkout latency above 2 s')
        WHEN 'AUTO_UNSNOOZE' THEN jsonb_build_object('incidentId', 'inc_' || i %% 50000)
        ELSE jsonb_build_object('task', 'noop', 'args', '{}'::jsonb)
    END,
    at,
    at + interval '50 milliseconds',
    CASE WHEN state <> 'FAILED' THEN at + interval '100 milliseconds' END,
    CASE WHEN state = 'FAILED' THEN at + interval '100 milliseconds' END,
    CASE WHEN state = 'FAILED' THEN 3 ELSE 1 END,
    3,
    CASE WHEN state = 'FAILED' THEN 'RuntimeError: the notification provider returned 503' END,
    at,
    at + interval '100 milliseconds',
    0,
    CASE WHEN state = 'FAILED' THEN (
        SELECT jsonb_agg(jsonb_build_object(
            'attempt', attempt, 'kind', 'exception', 'error', 'RuntimeError: the notification provider returned 503'))
        FROM generate_series(1, 3) AS attempt
    ) ELSE '[]'::jsonb END,
    CASE WHEN state = 'CANCELLED' THEN jsonb_build_object('cancelled', 'the incident was resolved') END
FROM (
    SELECT
        i,
        (ARRAY['ESCALATION', 'NOTIFICATION', 'AUTO_UNSNOOZE', 'SCHEDULED_TASK'])[1 + (i / 3) %% 4]::"JobType" AS kind,
        CASE i %% 20 WHEN 0 THEN 'FAILED' WHEN 1 THEN 'CANCELLED' ELSE 'COMPLETED' END::"JobStatus" AS state,
        (now() AT TIME ZONE 'UTC') - make_interval(days => %(days)s)
            + make_interval(secs => (i - 0.5) * %(days)s * 86400.0 / %(total)s) AS at
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
) AS generated
"""

# The rows one cleanup pass with this retention must delete, by the same
# timestamps delete_finished_jobs and delete_failed_jobs compare.
COUNT_EXPIRED_JOBS = """
SELECT count(*) AS count
FROM "BackgroundJob"
WHERE (status IN ('COMPLETED', 'CANCELLED')
       AND coalesce("completedAt", "updatedAt") < (now() AT TIME ZONE 'UTC') - make_interval(days => %(days)s))
   OR (status = 'FAILED'
       AND coalesce("failedAt", "updatedAt") < (now() AT TIME ZONE 'UTC') - make_interval(days => %(days)s))
"""


def history_figures(server: Server, settings: BenchSettings) -> list[Figure]:
    url = server.create_database("history")
    migrate(url)
    load_due_jobs(url, settings.pending_jobs)
    figures = []
    with db.connect(url) as conn:
        load = Figure(key="history_load", name="load finished jobs", unit="rows/s", settings="")
        loaded = 0
        load_seconds = 0.0
        for finished in settings.history_steps:
            load_seconds += _insert_finished(conn, finished - loaded, settings.history_days)
            loaded = finished
            checkpoint(url)
            figures.append(_claim_latency(conn, settings, finished))
        size = conn.execute("""SELECT pg_total_relation_size('"BackgroundJob"') AS bytes""").fetchone()["bytes"]
        load.samples = [loaded / load_seconds]
        load.settings = (
            f"{loaded:,} rows in {load_seconds:.0f} s, indexes in place, VACUUM ANALYZE included; "
            f"{size / 2**30:.2f} GiB; one load"
        )
        load.details = {"rows": loaded, "seconds": load_seconds, "table_bytes": size}
        figures.insert(0, load)

        figures.append(_stats_latency(conn, settings, loaded))
        figures.extend(_cleanup(conn, url, settings, loaded))
    server.drop_database(url)
    return figures


def _insert_finished(conn, count: int, days: int) -> float:
    """Insert ``count`` finished jobs spread over ``days`` days, run VACUUM ANALYZE and return the seconds taken."""
    clock = time.perf_counter()
    for first in range(1, count + 1, LOAD_CHUNK_ROWS):
        last = min(first + LOAD_CHUNK_ROWS - 1, count)
        conn.execute(INSERT_FINISHED_JOBS, {"first": first, "last": last, "total": count, "days": days})
    conn.execute('VACUUM ANALYZE "BackgroundJob"')
    return time.perf_counter() - clock


def _claim_latency(conn, settings: BenchSettings, finished: int) -> Figure:
    figure = Figure(
        key=f"claim_latency_{finished}",
        name=f"claim {settings.claim_batch_size} due jobs, {_short(finished)} finished",
        unit="ms",
        settings=f"{settings.pending_jobs:,} pending + {finished:,} finished; {settings.claim_samples} claims, each released",
        details={"finished": finished},
    )
    for sample in range(CLAIM_WARMUP + settings.claim_samples):
        clock = time.perf_counter()
        jobs = claim_due_jobs(
            conn, owner=CLAIM_OWNER, limit=settings.claim_batch_size, lease_seconds=CLAIM_LEASE_SECONDS
        )
        seconds = time.perf_counter() - clock
        if len(jobs) != settings.claim_batch_size:
            raise BenchError(f"{figure.name}: claimed {len(jobs)} jobs, expected {settings.claim_batch_size}")
        if release_jobs(conn, jobs, owner=CLAIM_OWNER) != len(jobs):
            raise BenchError(f"{figure.name}: could not release every claimed job")
        if sample >= CLAIM_WARMUP:
            figure.samples.append(seconds * 1000)
    # The plan only: EXPLAIN ANALYZE would claim the jobs.
    params = {
        "owner": CLAIM_OWNER,
        "limit": settings.claim_batch_size,
        "lease_seconds": CLAIM_LEASE_SECONDS,
        "types": None,
    }
    figure.details["plan"] = [row["QUERY PLAN"] for row in conn.execute(f"EXPLAIN {queries['claim_due_jobs']}", params)]
    return figure


def _stats_latency(conn, settings: BenchSettings, finished: int) -> Figure:
    figure = Figure(
        key="stats_latency",
        name=f"statistics, {_short(finished)} finished",
        unit="ms",
        settings=f"queue_stats(), {settings.pending_jobs:,} pending + {finished:,} finished; {settings.stats_samples} calls",
    )
    queue_stats(conn)
    for _ in range(settings.stats_samples):
        clock = time.perf_counter()
        queue_stats(conn)
        figure.samples.append((time.perf_counter() - clock) * 1000)
    # The plans show where the statistics queries spend their time.
    figure.details["plans"] = {
        name: [row["QUERY PLAN"] for row in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {queries[name]}")]
        for name in ("count_jobs_by_type_and_status", "get_oldest_due_job_age")
    }
    return figure


def _cleanup(conn, url: str, settings: BenchSettings, finished: int) -> list[Figure]:
    retentions = settings.cleanup_retention_days
    share = 1 / settings.history_days
    described = (
        f"{finished:,} finished over {settings.history_days} days, batch {CLEANUP_BATCH_SIZE:,}; "
        f"retention {', '.join(str(days) for days in retentions)} d, each run deletes {share:.0%}"
    )
    rate = Figure(key="cleanup_rate", name="cleanup, deleted rows", unit="rows/s", settings=described)
    longest = Figure(
        key="cleanup_longest_statement",
        name="cleanup, longest statement",
        unit="s",
        settings=f"the maximum over the {len(retentions)} cleanup runs, not a median",
        aggregate="max",
    )

    runs = []
    for days in retentions:
        counted = time.perf_counter()
        expected = conn.execute(COUNT_EXPIRED_JOBS, {"days": days}).fetchone()["count"]
        checkpoint(url)
        checkpoints_before = _checkpoints_completed(conn)
        timer = _StatementTimer(conn)
        clock = time.perf_counter()
        result = delete_old_jobs(timer, retention_days=days, batch_size=CLEANUP_BATCH_SIZE)
        seconds = time.perf_counter() - clock
        checkpoints = _checkpoints_completed(conn) - checkpoints_before

        # Each statement compares with its own now(), so the rows that expired
        # since the count (finished jobs are evenly spaced in time) are deleted too.
        late = math.ceil(finished / (settings.history_days * 86400) * (time.perf_counter() - counted)) + 1
        if not expected <= result.total <= expected + late:
            raise BenchError(
                f"cleanup with retention {days} days deleted {result.total} rows, "
                f"expected {expected} plus at most {late} that expired meanwhile"
            )

        rate.samples.append(result.total / seconds)
        longest.samples.append(result.longest_statement_seconds)
        statements = sorted(timer.seconds)
        runs.append(
            {
                "retention_days": days,
                "deleted": result.total,
                "seconds": seconds,
                "statements": len(statements),
                "median_statement_seconds": statistics.median(statements),
                "slowest_statements_seconds": statements[-5:],
                "checkpoints_during_run": checkpoints,
            }
        )

    rate.details["runs"] = runs
    typical = statistics.median(run["median_statement_seconds"] for run in runs)
    longest.settings += f"; the median DELETE took {typical * 1000:.0f} ms, its commit excluded"
    longest.details["runs"] = runs
    return [rate, longest]


class _StatementTimer:
    """A connection that records how long each ``execute`` takes, the commit not included.

    ``delete_old_jobs`` reports only its longest statement; the spread of
    the others shows whether that one is an outlier or typical.
    """

    def __init__(self, conn) -> None:
        self._conn = conn
        self.seconds: list[float] = []

    def transaction(self):
        return self._conn.transaction()

    def execute(self, query, params=None):
        clock = time.perf_counter()
        try:
            return self._conn.execute(query, params)
        finally:
            self.seconds.append(time.perf_counter() - clock)


def _checkpoints_completed(conn) -> int:
    """Return the server's count of checkpoints so far, timed and requested."""
    try:
        # PostgreSQL 17 moved the counters from pg_stat_bgwriter to pg_stat_checkpointer.
        row = conn.execute("SELECT num_timed + num_requested AS count FROM pg_stat_checkpointer").fetchone()
    except psycopg.errors.UndefinedTable:
        row = conn.execute("SELECT checkpoints_timed + checkpoints_req AS count FROM pg_stat_bgwriter").fetchone()
    return row["count"]


def _short(count: int) -> str:
    """Return 5M, 20k or 500 for a row count."""
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1_000 and count % 1_000 == 0:
        return f"{count // 1_000}k"
    return f"{count:,}"
