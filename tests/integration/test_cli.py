"""The ``jobqueue`` operator command against a real PostgreSQL.

Most tests call ``main(argv)`` in this process and read stdout and stderr
with ``capsys``. The tests at the end run the installed ``jobqueue``
script, or ``python -m jobqueue.cli`` where the project is not installed,
as a separate process, the way an operator or a script runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobqueue.api.cursor import encode_cursor as api_encode_cursor
from jobqueue.cli import ExitCode, main
from jobqueue.enqueue import NewJob, enqueue
from tests.conftest import ROOT
from tests.integration.helpers import job_row


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the command in this process; return its exit code, stdout and stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys, *argv: str):
    code, out, err = run_cli(capsys, "--json", *argv)
    assert code == ExitCode.OK, err
    return json.loads(out)


def error_of(err: str) -> dict:
    """Return the JSON error that ``--json`` prints to stderr."""
    return json.loads(err)["error"]


def add_job(conn, job_type: str = "SCHEDULED_TASK", payload: dict | None = None, **fields) -> str:
    return enqueue(conn, NewJob(job_type, payload or {"task": "noop"}, **fields)).id


def set_status(conn, job_id: str, status: str) -> None:
    conn.execute(
        """UPDATE "BackgroundJob" SET status = %s,
               "completedAt" = CASE WHEN %s IN ('COMPLETED', 'CANCELLED') THEN now() AT TIME ZONE 'UTC' END,
               "failedAt" = CASE WHEN %s = 'FAILED' THEN now() AT TIME ZONE 'UTC' END,
               error = CASE WHEN %s = 'FAILED' THEN 'RetryableError: provider timed out' END
           WHERE id = %s""",
        (status, status, status, status, job_id),
    )


# -- migrate -------------------------------------------------------------------


def test_cli_migrate_empty_database(empty_database, capsys):
    code, out, err = run_cli(capsys, "migrate")

    assert code == ExitCode.OK, err
    assert out.startswith("applied migrations: 0001_background_job")
    assert err == ""


def test_cli_migrate_dry_run_lists_pending(empty_database, capsys):
    data = run_json(capsys, "migrate", "--dry-run")

    assert data["pending"][0] == "0001_background_job"
    # Nothing was applied, so the schema is still missing.
    code, _, err = run_cli(capsys, "stats")
    assert code == ExitCode.DATABASE
    assert "jobqueue migrate" in err


def test_cli_migrate_again_applies_nothing(database, capsys):
    assert run_json(capsys, "migrate") == {"applied": []}
    assert run_json(capsys, "migrate", "--dry-run") == {"pending": []}

    code, out, _ = run_cli(capsys, "migrate")
    assert code == ExitCode.OK
    assert out.strip() == "nothing to apply: the schema is up to date"


def test_cli_migrate_keeps_stdout_for_result(empty_database, capsys):
    # The library logs each migration at INFO, which --verbose sends to stderr.
    code, out, err = run_cli(capsys, "--json", "--verbose", "migrate")

    assert code == ExitCode.OK
    assert len(json.loads(out)["applied"]) >= 4
    assert "applied migration 0001_background_job" in err


# -- stats -----------------------------------------------------------------------


def test_cli_stats_json_counts(database, conn, capsys):
    add_job(conn)
    add_job(conn, "NOTIFICATION", {"userId": "u1"})
    set_status(conn, add_job(conn), "FAILED")

    data = run_json(capsys, "stats")

    assert data["pending"] == 2
    assert data["failed"] == 1
    assert data["total"] == 3
    assert data["byType"]["SCHEDULED_TASK"]["failed"] == 1
    assert data["byType"]["NOTIFICATION"]["pending"] == 1
    assert data["oldestDueAgeSeconds"] >= 0


def test_cli_stats_table(database, conn, capsys):
    add_job(conn)

    code, out, _ = run_cli(capsys, "stats")

    assert code == ExitCode.OK
    assert "PENDING     1" in out
    assert "SCHEDULED_TASK  1" in out
    assert "lag: the oldest due job has waited" in out


def test_cli_stats_empty_queue_no_lag(database, capsys):
    code, out, _ = run_cli(capsys, "stats")

    assert code == ExitCode.OK
    assert "lag: no job is due" in out


# -- list ------------------------------------------------------------------------


def test_cli_list_filters(database, conn, capsys):
    pending = add_job(conn)
    failed = add_job(conn)
    set_status(conn, failed, "FAILED")
    notification = add_job(conn, "NOTIFICATION", {"userId": "u1"})

    failed_ids = [job["id"] for job in run_json(capsys, "list", "--status", "failed")["jobs"]]
    task_ids = {job["id"] for job in run_json(capsys, "list", "--type", "SCHEDULED_TASK")["jobs"]}
    both = run_json(capsys, "list", "--type", "scheduled_task", "--status", "PENDING")["jobs"]

    assert failed_ids == [failed]
    assert task_ids == {pending, failed}
    assert [job["id"] for job in both] == [pending]
    assert notification not in task_ids


def test_cli_list_pages_visit_each_job_once(database, conn, capsys):
    created = {add_job(conn) for _ in range(7)}

    seen = []
    cursor = None
    pages = 0
    while True:
        argv = ["list", "--limit", "3"] + (["--cursor", cursor] if cursor else [])
        page = run_json(capsys, *argv)
        seen += [job["id"] for job in page["jobs"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break

    assert pages == 3
    assert len(seen) == 7
    assert set(seen) == created


def test_cli_list_table_prints_next_page_command(database, conn, capsys):
    for _ in range(3):
        add_job(conn)

    code, out, _ = run_cli(capsys, "list", "--limit", "2", "--type", "SCHEDULED_TASK")

    assert code == ExitCode.OK
    assert out.splitlines()[0].split() == ["ID", "TYPE", "STATUS", "ATTEMPTS", "SCHEDULED", "AT", "ERROR"]
    assert len([line for line in out.splitlines() if "SCHEDULED_TASK  PENDING" in line]) == 2
    assert "next page: jobqueue list --type SCHEDULED_TASK --limit 2 --cursor " in out


def test_cli_list_cuts_long_errors(database, conn, capsys):
    job_id = add_job(conn)
    conn.execute('UPDATE "BackgroundJob" SET error = %s WHERE id = %s', ("x" * 500, job_id))

    _, out, _ = run_cli(capsys, "list")

    assert "x" * 59 + "…" in out
    assert "x" * 61 not in out


def test_cli_list_empty(database, capsys):
    code, out, _ = run_cli(capsys, "list")

    assert code == ExitCode.OK
    assert out.strip() == "no jobs match"


def test_cli_list_accepts_api_cursor(database, conn, capsys):
    older = add_job(conn)
    newer = add_job(conn)
    row = job_row(conn, newer)
    cursor = api_encode_cursor(row["createdAt"].replace(tzinfo=UTC), newer)

    jobs = run_json(capsys, "list", "--cursor", cursor)["jobs"]

    assert [job["id"] for job in jobs] == [older]


def test_cli_list_invalid_cursor(database, capsys):
    code, out, err = run_cli(capsys, "--json", "list", "--cursor", "not-a-cursor")

    assert code == ExitCode.USAGE
    assert out == ""
    assert error_of(err)["code"] == "invalid_cursor"
    assert error_of(err)["message"].startswith("--cursor: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["list", "--status", "DONE"], "'DONE' is not a job status; use one of PENDING"),
        (["list", "--type", "EMAIL"], "'EMAIL' is not a job type; use one of ESCALATION"),
        (["list", "--limit", "0"], "0 is out of range; use 1 to 1000"),
        (["list", "--limit", "ten"], "'ten' is not a whole number"),
        (["cleanup", "--days", "0"], "0 is out of range; use 1 to 3650"),
        (["show"], "the following arguments are required: ID"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_cli_usage_errors_exit_1(database, capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)

    assert code == ExitCode.USAGE
    assert out == ""
    assert err.startswith("jobqueue: error: ")
    assert message in err
    assert "usage: jobqueue" in err


# -- show ----------------------------------------------------------------------


def test_cli_show_job(database, conn, capsys):
    job_id = add_job(conn, "NOTIFICATION", {"userId": "u1", "message": "CPU high"}, dedup_key="notify:u1")

    data = run_json(capsys, "show", job_id)
    code, out, _ = run_cli(capsys, "show", job_id)

    assert data["id"] == job_id
    assert data["payload"] == {"userId": "u1", "message": "CPU high"}
    assert data["dedupKey"] == "notify:u1"
    assert code == ExitCode.OK
    assert f"id:            {job_id}" in out
    assert "dedup key:     notify:u1" in out
    assert '    "message": "CPU high"' in out
    assert "error history: none" in out


def test_cli_show_error_history(database, conn, capsys):
    job_id = add_job(conn)
    history = [{"attempt": 1, "at": "2030-01-01T12:00:00.000Z", "kind": "exception", "error": "ValueError: boom"}]
    conn.execute(
        """UPDATE "BackgroundJob" SET "errorHistory" = %s::jsonb, error = 'ValueError: boom' WHERE id = %s""",
        (json.dumps(history), job_id),
    )

    _, out, _ = run_cli(capsys, "show", job_id)

    assert "error history: 1 entries" in out
    assert "  attempt 1 at 2030-01-01T12:00:00.000Z (exception): ValueError: boom" in out


def test_cli_show_unknown_job_exit_2(database, capsys):
    code, out, err = run_cli(capsys, "show", "no-such-job")

    assert code == ExitCode.NOT_FOUND
    assert out == ""
    assert err.strip() == "jobqueue: error: job 'no-such-job' not found; find ids with `jobqueue list`"


# -- enqueue -------------------------------------------------------------------


def test_cli_enqueue_creates_job(database, conn, capsys):
    data = run_json(
        capsys,
        "enqueue",
        "NOTIFICATION",
        "--payload",
        '{"incidentId": "inc_1", "userId": "u1", "channel": "EMAIL", "message": "hi"}',
        "--delay",
        "60",
        "--max-attempts",
        "5",
        "--priority",
        "7",
        "--dedup-key",
        "notify:inc_1",
    )

    row = job_row(conn, data["job"]["id"])
    assert data["created"] is True
    assert row["type"] == "NOTIFICATION"
    assert row["status"] == "PENDING"
    assert row["payload"]["channel"] == "EMAIL"
    assert row["maxAttempts"] == 5
    assert row["priority"] == 7
    assert row["dedupKey"] == "notify:inc_1"
    wait = (row["scheduledAt"] - row["createdAt"]).total_seconds()
    assert 59 <= wait <= 61


def test_cli_enqueue_at_time_stored_as_utc(database, conn, capsys):
    data = run_json(
        capsys, "enqueue", "ESCALATION", "--payload", '{"incidentId": "i1"}', "--at", "2030-01-01T14:00:00+02:00"
    )

    assert job_row(conn, data["job"]["id"])["scheduledAt"] == datetime(2030, 1, 1, 12, 0)
    assert data["job"]["scheduledAt"] == "2030-01-01T12:00:00Z"


def test_cli_enqueue_text_output(database, conn, capsys):
    code, out, _ = run_cli(capsys, "enqueue", "scheduled_task", "--payload", '{"task": "noop"}')

    assert code == ExitCode.OK
    assert out.startswith("enqueued SCHEDULED_TASK job ")
    assert " due at " in out


def test_cli_enqueue_payload_from_file_and_stdin(database, conn, capsys, tmp_path, monkeypatch):
    payload_file = tmp_path / "payload.json"
    payload_file.write_text('{"task": "noop", "args": {"from": "file"}}', encoding="utf-8")
    from_file = run_json(capsys, "enqueue", "SCHEDULED_TASK", "--payload", f"@{payload_file}")

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO('{"task": "noop", "args": {"from": "stdin"}}'))
    from_stdin = run_json(capsys, "enqueue", "SCHEDULED_TASK", "--payload", "-")

    assert job_row(conn, from_file["job"]["id"])["payload"]["args"] == {"from": "file"}
    assert job_row(conn, from_stdin["job"]["id"])["payload"]["args"] == {"from": "stdin"}


def test_cli_enqueue_dedup_key_returns_existing(database, conn, capsys):
    first = run_json(capsys, "enqueue", "SCHEDULED_TASK", "--payload", '{"task": "noop"}', "--dedup-key", "once")
    code, out, _ = run_cli(capsys, "enqueue", "SCHEDULED_TASK", "--payload", '{"task": "noop"}', "--dedup-key", "once")
    again = run_json(capsys, "enqueue", "SCHEDULED_TASK", "--payload", '{"task": "noop"}', "--dedup-key", "once")

    assert code == ExitCode.OK
    assert f"nothing enqueued: the PENDING job {first['job']['id']} already holds the dedup key 'once'" in out
    assert again["created"] is False
    assert again["job"]["id"] == first["job"]["id"]
    count = conn.execute('SELECT count(*) AS n FROM "BackgroundJob"').fetchone()["n"]
    assert count == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--payload", "[1, 2]"], "--payload: must be a JSON object, got list"),
        (["--payload", "{}", "--at", "2030-01-01T12:00:00"], "--at: has no time zone; give an offset such as Z"),
        (["--payload", "{}", "--delay", "-5"], "--delay: -5.0 is out of range"),
        (["--payload", "{}", "--delay", "nan"], "--delay: must be a finite number of seconds"),
        (["--payload", "{}", "--max-attempts", "0"], "--max-attempts: 0 is invalid; use a whole number from 1 to 100"),
        (["--payload", "{}", "--priority", "5000"], "--priority: 5000 is invalid"),
        (["--payload", "{}", "--dedup-key", " "], "--dedup-key: must be a non-empty string"),
    ],
)
def test_cli_enqueue_invalid_job_writes_nothing(database, conn, capsys, argv, message):
    code, out, err = run_cli(capsys, "--json", "enqueue", "SCHEDULED_TASK", *argv)

    assert code == ExitCode.USAGE
    assert out == ""
    assert error_of(err)["code"] == "invalid_job"
    assert error_of(err)["message"].startswith(message)
    assert error_of(err)["exitCode"] == 1
    assert conn.execute('SELECT count(*) AS n FROM "BackgroundJob"').fetchone()["n"] == 0


def test_cli_enqueue_payload_over_limit(database, conn, capsys, monkeypatch):
    monkeypatch.setenv("MAX_PAYLOAD_BYTES", "100")

    code, _, err = run_cli(capsys, "enqueue", "SCHEDULED_TASK", "--payload", json.dumps({"text": "x" * 200}))

    assert code == ExitCode.USAGE
    assert "--payload: is 211 bytes of JSON, above the limit of 100 bytes" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["SCHEDULED_TASK", "--payload", "{bad"], "the payload is not valid JSON"),
        (["SCHEDULED_TASK", "--payload", "@/no/such/file.json"], "cannot read the payload file '/no/such/file.json'"),
        (["SCHEDULED_TASK", "--payload", "{}", "--at", "tomorrow"], "'tomorrow' is not an ISO 8601 date and time"),
        (["SCHEDULED_TASK", "--payload", "{}", "--at", "2030-01-01T00:00:00Z", "--delay", "5"], "not allowed with"),
        (["EMAIL", "--payload", "{}"], "'EMAIL' is not a job type"),
        (["SCHEDULED_TASK"], "the following arguments are required: --payload"),
    ],
)
def test_cli_enqueue_bad_arguments_exit_1(database, conn, capsys, argv, message):
    code, out, err = run_cli(capsys, "enqueue", *argv)

    assert code == ExitCode.USAGE
    assert out == ""
    assert message in err


def test_cli_enqueue_invalid_checked_without_database(monkeypatch, capsys):
    # Input errors come first, even with the database unreachable.
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")

    code, _, err = run_cli(capsys, "enqueue", "SCHEDULED_TASK", "--payload", "{}", "--max-attempts", "0")

    assert code == ExitCode.USAGE
    assert "--max-attempts" in err


# -- cancel and retry --------------------------------------------------------------


def test_cli_cancel_pending_job(database, conn, capsys):
    job_id = add_job(conn)

    code, out, _ = run_cli(capsys, "cancel", job_id)

    assert code == ExitCode.OK
    assert out.strip() == f"cancelled SCHEDULED_TASK job {job_id}"
    assert job_row(conn, job_id)["status"] == "CANCELLED"


def test_cli_cancel_json_returns_job(database, conn, capsys):
    job_id = add_job(conn)

    data = run_json(capsys, "cancel", job_id)

    assert data["id"] == job_id
    assert data["status"] == "CANCELLED"


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "CANCELLED", "PROCESSING"])
def test_cli_cancel_wrong_status_exit_3(database, conn, capsys, status):
    job_id = add_job(conn)
    set_status(conn, job_id, status)

    code, out, err = run_cli(capsys, "--json", "cancel", job_id)

    assert code == ExitCode.CONFLICT
    assert out == ""
    assert error_of(err)["code"] == "invalid_transition"
    assert f"its status is {status}, and only PENDING jobs can be cancelled" in error_of(err)["message"]
    assert f"`jobqueue show {job_id}`" in error_of(err)["message"]
    assert job_row(conn, job_id)["status"] == status


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED"])
def test_cli_retry_finished_job(database, conn, capsys, status):
    job_id = add_job(conn)
    conn.execute('UPDATE "BackgroundJob" SET attempts = 3 WHERE id = %s', (job_id,))
    set_status(conn, job_id, status)

    code, out, _ = run_cli(capsys, "retry", job_id)

    row = job_row(conn, job_id)
    assert code == ExitCode.OK
    assert out.strip() == f"SCHEDULED_TASK job {job_id} is PENDING again and due now, with its attempts reset"
    assert row["status"] == "PENDING"
    assert row["attempts"] == 0


@pytest.mark.parametrize("status", ["PENDING", "COMPLETED"])
def test_cli_retry_wrong_status_exit_3(database, conn, capsys, status):
    job_id = add_job(conn)
    set_status(conn, job_id, status)

    code, _, err = run_cli(capsys, "retry", job_id)

    assert code == ExitCode.CONFLICT
    assert f"cannot retry job '{job_id}': its status is {status}" in err


@pytest.mark.parametrize("command", ["cancel", "retry"])
def test_cli_change_unknown_job_exit_2(database, capsys, command):
    code, _, err = run_cli(capsys, "--json", command, "no-such-job")

    assert code == ExitCode.NOT_FOUND
    assert error_of(err) == {
        "code": "not_found",
        "message": "job 'no-such-job' not found; find ids with `jobqueue list`",
        "exitCode": 2,
    }


# -- cleanup -------------------------------------------------------------------


def age_job(conn, job_id: str, status: str, days: int) -> None:
    set_status(conn, job_id, status)
    conn.execute(
        """UPDATE "BackgroundJob"
           SET "completedAt" = "completedAt" - make_interval(days => %(days)s),
               "failedAt" = "failedAt" - make_interval(days => %(days)s)
           WHERE id = %(id)s""",
        {"days": days, "id": job_id},
    )


def test_cli_cleanup_deletes_old_jobs(database, conn, capsys):
    old_done = add_job(conn)
    old_failed = add_job(conn)
    recent_done = add_job(conn)
    pending = add_job(conn)
    age_job(conn, old_done, "COMPLETED", 10)
    age_job(conn, old_failed, "FAILED", 10)
    age_job(conn, recent_done, "COMPLETED", 2)

    data = run_json(capsys, "cleanup")

    assert data == {"deleted": 2, "deletedFinished": 1, "deletedFailed": 1, "retentionDays": 7}
    remaining = {row["id"] for row in conn.execute('SELECT id FROM "BackgroundJob"')}
    assert remaining == {recent_done, pending}


def test_cli_cleanup_days_option(database, conn, capsys):
    job_id = add_job(conn)
    age_job(conn, job_id, "CANCELLED", 2)

    code, out, _ = run_cli(capsys, "cleanup", "--days", "1")

    assert code == ExitCode.OK
    assert out.strip() == "deleted 1 jobs older than 1 day: 1 completed or cancelled, 0 failed"


def test_cli_cleanup_retention_from_environment(database, conn, capsys, monkeypatch):
    job_id = add_job(conn)
    age_job(conn, job_id, "COMPLETED", 4)
    monkeypatch.setenv("RETENTION_DAYS", "3")

    data = run_json(capsys, "cleanup")

    assert data["retentionDays"] == 3
    assert data["deleted"] == 1


# -- configuration and database errors ---------------------------------------------------


def test_cli_no_database_configured_exit_1(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DB_SECRET_ARN", raising=False)

    code, _, err = run_cli(capsys, "stats")

    assert code == ExitCode.USAGE
    assert "no database configured: set DATABASE_URL" in err


def test_cli_invalid_setting_exit_1(database, monkeypatch, capsys):
    monkeypatch.setenv("BATCH_SIZE", "lots")

    code, _, err = run_cli(capsys, "stats")

    assert code == ExitCode.USAGE
    assert "BATCH_SIZE='lots' is not a whole number" in err


def test_cli_database_unreachable_exit_4(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")

    code, out, err = run_cli(capsys, "--json", "stats")

    assert code == ExitCode.DATABASE
    assert out == ""
    assert error_of(err)["code"] == "database_unavailable"
    assert "cannot connect to the database at '127.0.0.1'" in error_of(err)["message"]
    assert "check DATABASE_URL or DB_SECRET_ARN" in error_of(err)["message"]


def test_cli_schema_missing_exit_4(empty_database, capsys):
    code, _, err = run_cli(capsys, "list")

    assert code == ExitCode.DATABASE
    assert 'relation "BackgroundJob" does not exist' in err
    assert "apply it with `jobqueue migrate`" in err


def test_cli_help_exit_0(capsys):
    code, out, _ = run_cli(capsys, "--help")

    assert code == ExitCode.OK
    assert "  2    job not found" in out
    assert "  4    database unavailable, failed, or without the queue's schema" in out


def test_cli_restores_library_logging(database, capsys, log_records):
    run_cli(capsys, "stats")

    from jobqueue.logs import logger

    logger.info("after the command", extra={"action": "check"})
    assert log_records()[-1]["message"] == "after the command"


# -- as a separate process ------------------------------------------------------------


def command_line() -> list[str]:
    """Return the installed ``jobqueue`` script of this virtualenv, or ``python -m jobqueue.cli`` without one."""
    script = Path(sys.executable).parent / "jobqueue"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "jobqueue.cli"]


def run_process(database: str | None, *argv: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DB_SECRET_ARN")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "jobqueue"), env.get("PYTHONPATH", "")])
    if database is not None:
        env["DATABASE_URL"] = database
    return subprocess.run([*command_line(), *argv], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_cli_process_enqueue_then_show(database):
    enqueued = run_process(database, "--json", "enqueue", "SCHEDULED_TASK", "--payload", '{"task": "noop"}')
    job_id = json.loads(enqueued.stdout)["job"]["id"]
    shown = run_process(database, "show", job_id, "--json")

    assert enqueued.returncode == 0, enqueued.stderr
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "PENDING"
    # No log line may reach stdout, or --json output would not parse.
    assert enqueued.stderr == ""


def test_cli_process_exit_codes(database):
    not_found = run_process(database, "cancel", "no-such-job")
    usage = run_process(database, "list", "--limit", "0")
    unavailable = run_process("postgresql://postgres@127.0.0.1:1/none", "stats")
    unconfigured = run_process(None, "stats")

    assert not_found.returncode == 2
    assert usage.returncode == 1
    assert unavailable.returncode == 4
    assert unconfigured.returncode == 1
    assert not_found.stdout == usage.stdout == unavailable.stdout == unconfigured.stdout == ""
    assert "job 'no-such-job' not found" in not_found.stderr


def test_cli_installed_script_runs(database):
    script = Path(sys.executable).parent / "jobqueue"
    assert script.is_file(), f"{script} is missing; run `make venv`, which installs the jobqueue script"
    completed = subprocess.run(
        [str(script), "--json", "stats"],
        env={**os.environ, "DATABASE_URL": database},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["total"] == 0
    assert shutil.which("jobqueue", path=str(Path(sys.executable).parent)) is not None
