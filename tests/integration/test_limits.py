"""Limits: retry backoff at its extremes, and payloads at the documented maximum.

Backoff is 5 s, 10 s, 20 s... capped at RETRY_MAX_SECONDS, computed in
Python and added to the database clock. RETRY_JITTER (default 0) spreads
each delay down by up to that fraction. A payload may be up to
MAX_PAYLOAD_BYTES (256 KiB) of compact JSON text, measured in UTF-8 bytes.
"""

from __future__ import annotations

import json
import statistics

import pytest

from jobqueue.config import MAX_PAYLOAD_BYTES, Settings
from jobqueue.enqueue import NewJob, enqueue, enqueue_many
from jobqueue.errors import ConfigError, PayloadTooLarge
from jobqueue.outcomes import RetryAfter
from tests.integration.helpers import job_row, run_processor
from tests.integration.processes import effect_job
from tests.integration.test_api import assert_error, call, make_event, snapshot, table_unchanged

# The processor function's MemorySize in template.yaml.
PROCESSOR_MEMORY_MB = 1024


def retry_delays(conn) -> list[float]:
    rows = conn.execute(
        """SELECT extract(epoch FROM "scheduledAt" - "updatedAt")::float8 AS delay
           FROM "BackgroundJob" WHERE status = 'PENDING' ORDER BY 1"""
    ).fetchall()
    return [row["delay"] for row in rows]


def always_fail(job, ctx):
    raise ConnectionError("provider unreachable")


@pytest.mark.parametrize("jitter", ["0", "0.5"])
def test_jobs_failing_together(conn, database, jitter):
    enqueue_many(conn, [NewJob("NOTIFICATION", {"n": n}) for n in range(100)])
    summary = run_processor(database, always_fail, env={"RETRY_JITTER": jitter, "WORKER_THREADS": "4"})
    delays = retry_delays(conn)
    print(
        f"\n[retries] jobs=100 jitter={jitter} min={min(delays):.3f} max={max(delays):.3f} "
        f"distinct_due_times={len({round(d, 3) for d in delays})} stdev={statistics.pstdev(delays):.3f}"
    )

    assert summary["retried"] == 100
    if jitter == "0":
        # The documented default: without jitter, jobs that failed together fall due together.
        assert delays == [pytest.approx(5.0, abs=0.002)] * 100
    else:
        assert min(delays) >= 2.5 - 0.002
        assert max(delays) <= 5.0 + 0.002
        assert max(delays) - min(delays) >= 1.5
        assert len({round(d, 3) for d in delays}) >= 90


def test_retry_at_attempt_99_capped(conn, database):
    job_id = enqueue(conn, NewJob("NOTIFICATION", {}, max_attempts=100)).id
    conn.execute('UPDATE "BackgroundJob" SET attempts = 98 WHERE id = %s', (job_id,))

    run_processor(database, always_fail)
    assert job_row(conn, job_id)["attempts"] == 99
    assert retry_delays(conn) == [pytest.approx(3600, abs=0.002)]

    conn.execute("""UPDATE "BackgroundJob" SET "scheduledAt" = now() AT TIME ZONE 'UTC' WHERE id = %s""", (job_id,))
    run_processor(database, always_fail)
    row = job_row(conn, job_id)
    assert row["status"] == "FAILED"
    assert row["attempts"] == 100


def run_until_final(conn, database, job_id: str, handler, env: dict[str, str]) -> int:
    """Run the processor until the job is final, without moving its due time; return the number of runs."""
    for runs in range(1, 4):
        run_processor(database, handler, env=env)
        if job_row(conn, job_id)["status"] == "FAILED":
            return runs
    raise AssertionError("the job should have failed within three runs: its retries are due at once")


def test_zero_base_retries_at_once(conn, database):
    job_id = enqueue(conn, NewJob("NOTIFICATION", {})).id
    run_until_final(conn, database, job_id, always_fail, {"RETRY_BASE_SECONDS": "0"})
    assert len(job_row(conn, job_id)["errorHistory"]) == 3


@pytest.mark.parametrize(("seconds", "expected"), [(1e12, 3600.0), (float("inf"), 3600.0), (2.5, 2.5)])
def test_retry_after_capped(conn, database, seconds, expected):
    enqueue(conn, NewJob("NOTIFICATION", {}))
    run_processor(database, lambda job, ctx: RetryAfter(seconds), env={"RETRY_BASE_SECONDS": "100"})
    assert retry_delays(conn) == [pytest.approx(expected, abs=0.002)]


@pytest.mark.parametrize("seconds", [-5, 0])
def test_retry_after_negative_or_zero_due_at_once(conn, database, seconds):
    job_id = enqueue(conn, NewJob("NOTIFICATION", {})).id
    run_until_final(conn, database, job_id, lambda job, ctx: RetryAfter(seconds), {"RETRY_BASE_SECONDS": "100"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETRY_BASE_SECONDS", "-1"),
        ("RETRY_MAX_SECONDS", "-60"),
        ("RETRY_JITTER", "-0.1"),
        ("RETRY_MAX_SECONDS", "inf"),
    ],
)
def test_bad_backoff_setting_named_at_cold_start(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_missing_backoff_settings_use_defaults():
    settings = Settings.from_env({"RETRY_BASE_SECONDS": "", "RETRY_MAX_SECONDS": " ", "RETRY_JITTER": ""})
    assert (settings.retry_base_seconds, settings.retry_max_seconds, settings.retry_jitter) == (5.0, 3600.0, 0.0)


# -- payloads ------------------------------------------------------------------


def payload_of_size(size: int, **fields) -> dict:
    """Return a payload whose compact JSON text is exactly ``size`` bytes."""
    payload = {**fields, "blob": ""}
    overhead = len(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    payload["blob"] = "x" * (size - overhead)
    assert len(json.dumps(payload, separators=(",", ":")).encode("utf-8")) == size
    return payload


def test_payload_at_limit_accepted_one_byte_over_rejected(conn, database):
    at_limit = payload_of_size(MAX_PAYLOAD_BYTES)
    over = payload_of_size(MAX_PAYLOAD_BYTES + 1)

    assert enqueue(conn, NewJob("NOTIFICATION", at_limit)).created
    with pytest.raises(PayloadTooLarge):
        enqueue(conn, NewJob("NOTIFICATION", over))
    with table_unchanged(conn):
        response = call(database, make_event("create-job", body={"type": "NOTIFICATION", "payload": over}))
    assert_error(response, 413, "payload_too_large", "body.payload")

    before = len(snapshot(conn))
    response = call(database, make_event("create-job", body={"type": "NOTIFICATION", "payload": at_limit}))
    assert response.status == 201, response.text
    assert len(snapshot(conn)) == before + 1


@pytest.mark.parametrize("payload", [[], "text", 7, None, True], ids=["array", "string", "number", "null", "bool"])
def test_payload_must_be_object(conn, database, payload):
    with table_unchanged(conn):
        response = call(database, make_event("create-job", body={"type": "NOTIFICATION", "payload": payload}))
    assert_error(response, 422, "validation_failed", "body.payload")


def small_items_payload(size: int) -> dict:
    """Return a payload of about ``size`` bytes made of many small objects, the costliest shape to hold in Python."""
    items = [{"k": index % 10} for index in range(size // 8 - 16)]
    payload = effect_job(write=False)
    payload["items"] = items
    while len(json.dumps(payload, separators=(",", ":")).encode("utf-8")) > size:
        items.pop()
    return payload


@pytest.mark.parametrize("shape", ["tiny", "one-string", "small-objects"])
def test_batch_of_50_payloads_at_limit_fits_memory(conn, lambdas, shape):
    if shape == "tiny":
        payload = effect_job(write=False)
    elif shape == "one-string":
        payload = payload_of_size(MAX_PAYLOAD_BYTES, task="effect", args={"write": False})
    else:
        payload = small_items_payload(MAX_PAYLOAD_BYTES)
    enqueue_many(conn, [NewJob("SCHEDULED_TASK", payload) for _ in range(50)])

    outcome = lambdas.start(env={"BATCH_SIZE": "50"}, timeout_seconds=120).wait()
    peak_mb = outcome["max_rss_kb"] / 1024
    print(
        f"\n[payload memory] shape={shape} jobs=50 payload_bytes={len(json.dumps(payload, separators=(',', ':')))} "
        f"peak_rss_mb={peak_mb:.0f} memory_size_mb={PROCESSOR_MEMORY_MB}"
    )
    assert outcome["ok"], outcome.get("traceback")
    assert outcome["result"]["processed"] == 50
    # Half the function's memory, so the measured process has room to spare.
    assert peak_mb < PROCESSOR_MEMORY_MB / 2
