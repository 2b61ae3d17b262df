"""The local demo behind ``make run``.

It starts the embedded PostgreSQL (unless ``DATABASE_URL`` is set),
migrates, seeds a small incident with an escalation policy, enqueues an
escalation, a notification and an auto-unsnooze through the API function
with the sample events in ``events/``, runs the processor function with
the scheduled event, and prints each job's outcome and the statistics.
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from .embedded import PROJECT_ROOT, ensure_database
from .invoke import invoke

EVENTS = PROJECT_ROOT / "events"
TEMPLATE = PROJECT_ROOT / "template.yaml"
SEED = Path(__file__).with_name("seed.sql")
LOG_FILE = PROJECT_ROOT / ".local" / "demo-logs.jsonl"
SNOOZED_INCIDENT = "inc_01HZX3V6J8Q3"
# The local run needs no secret; an empty value keeps the runner from
# warning that the template's DatabaseSecretArn parameter has no default.
# The template delivers through AWS; the demo only logs each notification.
ENV_DEFAULTS = {"DB_SECRET_ARN": "", "NOTIFY_TRANSPORT": "log"}


def main() -> int:
    # The functions' structured logs would bury the report, so they go to a file.
    LOG_FILE.parent.mkdir(exist_ok=True)
    with LOG_FILE.open("w", encoding="utf-8") as logs, contextlib.redirect_stdout(logs):
        return _run(logs)


def _run(logs) -> int:
    def say(text: str = "") -> None:
        print(text, file=sys.__stdout__, flush=True)

    url = ensure_database()
    env = {**ENV_DEFAULTS, "DATABASE_URL": url}
    say(f"database: {_redacted(url)}")
    say(f"migrations: {invoke('ProcessorFunction', _event('processor-migrate.json'), template_path=TEMPLATE, env_overrides=env)}")

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED.read_text(encoding="utf-8"))
    say("seeded: incident inc_01HZX3V6J8Q2 (OPEN) and inc_01HZX3V6J8Q3 (SNOOZED, deadline passed)\n")

    say("enqueue through the API function:")
    requests = [
        ("api-create-escalation.json", None),
        ("api-create-notification.json", None),
        # The sample event snoozes until 2030; the demo un-snoozes the seeded
        # incident whose deadline has just passed, so the job runs now.
        ("api-schedule-auto-unsnooze.json", {
            "incidentId": SNOOZED_INCIDENT,
            "snoozedUntil": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        }),
    ]
    for name, body in requests:
        response = _call_api(name, env, body)
        job = response["body"].get("job", response["body"])
        say(f"  {name:36} -> {response['statusCode']} {job.get('type', '')} {job.get('id', '')}")

    say("\nrun the processor function with events/processor-scheduled.json:")
    summary = invoke("ProcessorFunction", _event("processor-scheduled.json"), template_path=TEMPLATE, env_overrides=env)
    say(f"  {json.dumps(summary)}\n")

    say("job outcomes (the first three jobs enqueued the others):")
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """SELECT type, status, attempts, payload, result, error FROM "BackgroundJob"
               WHERE payload->>'incidentId' IN ('inc_01HZX3V6J8Q2', 'inc_01HZX3V6J8Q3')
               ORDER BY "createdAt", id"""
        ).fetchall()
    for job_type, status, attempts, payload, result, error in rows:
        detail = error or (json.dumps(result) if result else "")
        target = payload.get("channel") or (f"step {payload['stepIndex']}" if "stepIndex" in payload else "")
        say(f"  {payload['incidentId']}  {job_type:15} {target:8} {status:10} attempts={attempts} {detail}")

    stats = _call_api("api-get-job-stats.json", env)["body"]
    say("\nstatistics of the whole queue (GET /jobs/stats):")
    say("  " + ", ".join(f"{key}={stats[key]}" for key in ("pending", "processing", "completed", "failed", "cancelled")))
    say(f"\nstructured logs of both functions: {LOG_FILE.relative_to(PROJECT_ROOT)}")
    say("the embedded database keeps running; stop it with: PYTHONPATH=layers/jobqueue:local "
        ".venv/bin/python -m jobqueue_local db-stop")
    failed = [row for row in rows if row[1] == "FAILED"]
    if failed:
        say(f"\n{len(failed)} demo job(s) failed; see the error above and the log file")
        return 1
    return 0


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def _call_api(name: str, env: dict[str, str], body: dict[str, Any] | None = None) -> dict[str, Any]:
    event = _event(name)
    if body is not None:
        event["body"] = json.dumps(body)
    response = invoke("ApiFunction", event, template_path=TEMPLATE, env_overrides=env)
    response["body"] = json.loads(response["body"]) if response.get("body") else {}
    if response["statusCode"] >= 400:
        print(f"error: {name} returned {response['statusCode']}: {response['body']}", file=sys.stderr)
        raise SystemExit(1)
    return response


def _redacted(url: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    params.pop("password", None)
    return psycopg.conninfo.make_conninfo(**params)
