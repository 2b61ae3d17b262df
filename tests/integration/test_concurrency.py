"""Concurrent processors: every job is claimed once and its effect commits once.

Each processor is a real OS process running the processor entry point
(``functions/processor/app.py``) on the scheduled event. The jobs run the
test task ``effect``, which writes one row per run to a table without a
unique constraint, and a trigger records every claim, so a job claimed or
completed twice shows up as a second row.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from jobqueue.enqueue import NewJob, enqueue_many
from tests.integration.processes import counts_by_job, effect_job

ENQUEUE_CHUNK = 1000
# Few threads per process: eight processes share the test server with other users.
PROCESS_ENV = {"WORKER_THREADS": "2", "BATCH_SIZE": "50"}


def enqueue_effect_jobs(conn, count: int) -> None:
    for start in range(0, count, ENQUEUE_CHUNK):
        size = min(ENQUEUE_CHUNK, count - start)
        enqueue_many(conn, [NewJob("SCHEDULED_TASK", effect_job()) for _ in range(size)])


def set_database_default(conn, setting: str, value: str) -> None:
    conn.execute(f"ALTER DATABASE \"{conn.info.dbname}\" SET {setting} = '{value}'")


def race_processors(conn, database, lambdas, *, processes: int, jobs: int, isolation: str) -> None:
    set_database_default(conn, "default_transaction_isolation", isolation)
    # Commits need not wait for the disk here: the test kills no server.
    set_database_default(conn, "synchronous_commit", "off")
    with psycopg.connect(database) as fresh:
        assert fresh.execute("SHOW default_transaction_isolation").fetchone()[0] == isolation
    enqueue_effect_jobs(conn, jobs)

    started = time.monotonic()
    runs = [lambdas.start(env=PROCESS_ENV, timeout_seconds=900, gated=True) for _ in range(processes)]
    lambdas.open_gate(runs)
    outcomes = [run.wait(timeout=600) for run in runs]
    elapsed = time.monotonic() - started

    for run, outcome in zip(runs, outcomes):
        assert outcome["ok"], f"{run.name} failed: {outcome.get('traceback')}"
    results = [outcome["result"] for outcome in outcomes]
    rows = conn.execute('SELECT status::text AS status, count(*) AS n FROM "BackgroundJob" GROUP BY 1')
    statuses = {row["status"]: row["n"] for row in rows}
    claims = counts_by_job(conn, "claims")
    effects = counts_by_job(conn, "effects")
    attempts = {row["attempts"] for row in conn.execute('SELECT DISTINCT attempts FROM "BackgroundJob"')}
    owners = conn.execute("SELECT owner, count(*) AS n FROM claims GROUP BY owner").fetchall()
    print(
        f"\n[claim race] isolation={isolation} jobs={jobs} processes={processes} "
        f"seconds={elapsed:.1f} jobs_per_second={jobs / elapsed:.0f} "
        f"claims_per_process={sorted(row['n'] for row in owners)} "
        f"double_claims={sum(1 for n in claims.values() if n > 1)} "
        f"double_effects={sum(1 for n in effects.values() if n > 1)}"
    )

    assert statuses == {"COMPLETED": jobs}
    assert sum(result["processed"] for result in results) == jobs
    assert sum(result["leaseLost"] for result in results) == 0
    assert len(claims) == jobs
    assert max(claims.values()) == 1, "a job was claimed more than once"
    assert len(effects) == jobs
    assert max(effects.values()) == 1, "a job's effect committed more than once"
    assert attempts == {1}
    assert len(owners) == processes, "every process should have claimed jobs, so they raced"


@pytest.mark.parametrize("isolation", ["read committed", "repeatable read", "serializable"])
def test_processes_claim_each_job_once(probes, database, lambdas, isolation):
    race_processors(probes, database, lambdas, processes=4, jobs=1000, isolation=isolation)


@pytest.mark.stress
@pytest.mark.parametrize("isolation", ["read committed", "repeatable read"])
def test_processes_claim_each_job_once__10k(probes, database, lambdas, isolation):
    race_processors(probes, database, lambdas, processes=8, jobs=10_000, isolation=isolation)
