"""Support for the guarantee tests: probe tables, and Lambda entry points run as OS processes.

The probes count what happened in the database itself. A trigger writes a
row to ``claims`` for every claim (attempts went up) and to ``releases``
for every hand-back or snooze (attempts went down). The test task
``effect`` (``tests/integration/tasks/effect.py``) writes one row to
``effects`` per run, in the job's own transaction. None of these tables has
a unique constraint, so a double claim or a double effect shows up as a
second row instead of an error.

``Lambdas`` starts ``tests/integration/lambda_child.py`` processes, each
running one invocation of the real entry point, and kills them with
SIGKILL by their own PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from tests.conftest import load_event

CHILD = Path(__file__).resolve().parent / "lambda_child.py"
T = TypeVar("T")

PROBES_SQL = """
CREATE TABLE effects (
    job_id text NOT NULL,
    attempt integer NOT NULL,
    pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE signals (
    job_id text NOT NULL,
    attempt integer NOT NULL,
    pid integer NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE claims (
    job_id text NOT NULL,
    attempt integer NOT NULL,
    owner text,
    lease_expires_at timestamp(3),
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE releases (
    job_id text NOT NULL,
    attempt integer NOT NULL,
    owner text
);

CREATE FUNCTION probe_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO claims (job_id, attempt, owner, lease_expires_at)
    VALUES (NEW.id, NEW.attempts, NEW."leaseOwner", NEW."leaseExpiresAt");
    RETURN NULL;
END $$;
CREATE TRIGGER probe_claim AFTER UPDATE ON "BackgroundJob" FOR EACH ROW
    WHEN (NEW.attempts > OLD.attempts) EXECUTE FUNCTION probe_claim();

CREATE FUNCTION probe_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO releases (job_id, attempt, owner) VALUES (NEW.id, OLD.attempts, OLD."leaseOwner");
    RETURN NULL;
END $$;
CREATE TRIGGER probe_release AFTER UPDATE ON "BackgroundJob" FOR EACH ROW
    WHEN (NEW.attempts < OLD.attempts) EXECUTE FUNCTION probe_release();
"""


def install_probes(conn: psycopg.Connection) -> None:
    """Create the probe tables and triggers in the test's database."""
    conn.execute(PROBES_SQL)


def counts_by_job(conn: psycopg.Connection, table: str) -> dict[str, int]:
    """Return {job_id: rows} of a probe table (``effects``, ``claims``, ``releases`` or ``signals``)."""
    rows = conn.execute(f"SELECT job_id, count(*) AS n FROM {table} GROUP BY job_id").fetchall()
    return {row["job_id"]: row["n"] for row in rows}


def effect_job(**args: Any) -> dict[str, Any]:
    """Return the payload of a SCHEDULED_TASK job that runs the test task ``effect`` with ``args``."""
    return {"task": "effect", "args": args}


def db_now(conn: psycopg.Connection) -> datetime:
    """Return the database clock as naive UTC, like the queue's timestamp(3) columns."""
    return conn.execute("SELECT now() AT TIME ZONE 'UTC' AS now").fetchone()["now"]


def wait_for(condition: Callable[[], T], *, timeout: float, description: str, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy and return that; fail naming ``description`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {description}")
        time.sleep(interval)


def wait_for_leases_to_expire(conn: psycopg.Connection, *, timeout: float = 60) -> None:
    """Wait until no PROCESSING job holds a lease that is still valid by the database clock."""

    def expired() -> bool:
        row = conn.execute(
            """SELECT count(*) AS n FROM "BackgroundJob"
               WHERE status = 'PROCESSING' AND "leaseExpiresAt" >= now() AT TIME ZONE 'UTC'"""
        ).fetchone()
        return row["n"] == 0

    wait_for(expired, timeout=timeout, description="every lease to expire", interval=0.1)


@dataclass
class LambdaProcess:
    """One entry-point invocation running in its own OS process."""

    name: str
    popen: subprocess.Popen
    result_path: Path
    log_path: Path
    ready_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """Send SIGKILL to this process, as Lambda does at a timeout or an out-of-memory error."""
        if self.running():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def wait(self, timeout: float = 120) -> dict[str, Any]:
        """Wait for the invocation to end and return its outcome (see ``lambda_child``)."""
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not finish within {timeout:g} s; output:\n{self.output()}") from None
        outcome = self.outcome()
        assert outcome is not None, f"{self.name} wrote no outcome; output:\n{self.output()}"
        return outcome

    def outcome(self) -> dict[str, Any] | None:
        if not self.result_path.exists():
            return None
        return json.loads(self.result_path.read_text(encoding="utf-8"))

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        """Return the JSON log lines the process wrote, leaving out EMF metric objects."""
        records = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if "level" in record:
                    records.append(record)
        return records


class Lambdas:
    """Starts entry-point processes against one database and kills any still running at the end."""

    def __init__(self, folder: Path, database_url: str) -> None:
        self.folder = folder
        self.database_url = database_url
        self.started: list[LambdaProcess] = []
        self.gate = folder / f"gate-{uuid.uuid4().hex[:8]}"

    def start(
        self,
        function: str = "processor",
        event: Any = None,
        *,
        env: dict[str, str] | None = None,
        timeout_seconds: float = 60,
        request_id: str | None = None,
        gated: bool = False,
    ) -> LambdaProcess:
        """Start one invocation; with ``gated``, it waits for ``open_gate`` after its imports."""
        name = f"{function}-{len(self.started) + 1}"
        if event is None:
            event = load_event("processor-scheduled.json")
        result_path = self.folder / f"{name}.result.json"
        log_path = self.folder / f"{name}.log"
        ready_path = self.folder / f"{name}.ready"
        spec = {
            "function": function,
            "event": event,
            "env": {"DATABASE_URL": self.database_url, "POWERTOOLS_SERVICE_NAME": "jobqueue", **(env or {})},
            "timeout_seconds": timeout_seconds,
            "request_id": request_id,
            "result": str(result_path),
            "ready": str(ready_path),
            "gate": str(self.gate) if gated else None,
        }
        spec_path = self.folder / f"{name}.spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [sys.executable, str(CHILD), str(spec_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        process = LambdaProcess(name, popen, result_path, log_path, ready_path)
        self.started.append(process)
        return process

    def open_gate(self, processes: list[LambdaProcess], *, timeout: float = 120) -> None:
        """Wait until every gated process finished its imports, then let them all start at once."""
        wait_for(
            lambda: all(p.ready_path.exists() or not p.running() for p in processes),
            timeout=timeout,
            description="the processes to finish their imports",
        )
        self.gate.touch()

    def kill_all(self) -> None:
        for process in self.started:
            process.kill()
