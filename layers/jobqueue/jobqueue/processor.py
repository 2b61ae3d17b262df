"""The processor's run: rescue expired leases, then claim and run batches.

One run is one Lambda invocation. The main thread claims batches of due
jobs and feeds a queue; worker threads take jobs from it and run their
handlers. Each worker keeps one transaction open across several jobs and
commits it at least every ``GROUP_COMMIT_SECONDS``:

- a handler that writes gets a savepoint, and its job's new status is
  written right after it, in the same transaction, fenced by lease owner
  and attempt; if the fence fails, the savepoint is rolled back;
- a handler that writes nothing has its completion deferred and written
  for the whole group in one statement just before the commit.

Either way, a job's writes and its new status commit together, and a job
costs no commit of its own. A processor that dies loses only uncommitted
work, which lease rescue returns to the queue.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from jobqueue.backoff import retry_delay_seconds
from jobqueue.claim import claim_due_jobs, release_jobs
from jobqueue.config import DEFAULT_LEASE_SECONDS, Settings
from jobqueue.db import Database
from jobqueue.errors import DatabaseUnavailable, PermanentError
from jobqueue.handlers import get_handler
from jobqueue.jobs import Job
from jobqueue.logs import logger
from jobqueue.outcomes import OUTCOME_TYPES, Cancel, Complete, Fail, JobContext, RetryAfter, SnoozeUntil
from jobqueue.rescue import rescue_expired_leases
from jobqueue.sql import queries
from jobqueue.states import JobType

GROUP_COMMIT_SECONDS = 0.05
MAX_ERROR_LENGTH = 4000
# Stop waiting for worker threads this long before the invocation times out,
# leaving time to hand back the jobs they did not start.
RETURN_MARGIN_SECONDS = 2.0
_STOP = object()
# A NUL character in JSON text; jsonb rejects it, so results store U+FFFD instead.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


@dataclass
class RunOptions:
    batch_size: int
    types: Sequence[JobType] | None = None
    max_jobs: int | None = None


@dataclass
class RunSummary:
    counts: Counter = field(default_factory=Counter)
    rescued: int = 0
    released: int = 0
    lease_lost: int = 0

    def as_dict(self) -> dict[str, int]:
        processed = self.counts["completed"]
        failed = self.counts["failed"]
        retried = self.counts["retried"]
        cancelled = self.counts["cancelled"]
        snoozed = self.counts["snoozed"]
        return {
            "processed": processed,
            "failed": failed,
            "retried": retried,
            "cancelled": cancelled,
            "snoozed": snoozed,
            "total": processed + failed + retried + cancelled + snoozed,
            "rescued": self.rescued,
            "released": self.released,
            "leaseLost": self.lease_lost,
        }


class Processor:
    """Runs due jobs until none is left or the invocation's time runs out."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        remaining_seconds: Callable[[], float],
        request_id: str,
        handler_lookup: Callable[[JobType], Callable] = get_handler,
    ) -> None:
        self.database = database
        self.settings = settings
        self.remaining_seconds = remaining_seconds
        # The request id names the invocation in logs; the suffix keeps two
        # deliveries of one event (a Lambda async retry reuses the request
        # id) from sharing a lease.
        self.owner = f"{request_id}/{uuid.uuid4().hex[:8]}"
        self.handler_lookup = handler_lookup
        self.summary = RunSummary()
        self._lock = threading.Lock()
        self._handed_back: list[Job] = []
        self._run_errors: list[BaseException] = []
        # Jobs claimed whose outcome is not committed yet; the feeder waits
        # for zero before deciding that no due job is left.
        self._in_flight = 0
        self._settled = threading.Condition(self._lock)
        # The job each worker thread is running, by thread name, to name a stuck handler.
        self._running: dict[str, Job] = {}

    # -- the run ------------------------------------------------------

    def run(self, options: RunOptions) -> RunSummary:
        """Rescue expired leases, then claim and run batches; return the counts.

        Raises ``DatabaseUnavailable`` when the database failed during the
        run. Jobs whose outcome was not committed then stay PROCESSING
        until their lease expires, and the next run rescues them.
        """
        with self.database.connection() as conn:
            rescued = rescue_expired_leases(conn, default_lease_seconds=DEFAULT_LEASE_SECONDS)
        self.summary.rescued = rescued.total

        work: queue.Queue = queue.Queue(maxsize=options.batch_size)
        workers = [
            threading.Thread(target=self._work, args=(work,), name=f"jobqueue-worker-{n}", daemon=True)
            for n in range(self.settings.worker_threads)
        ]
        for worker in workers:
            worker.start()
        try:
            self._feed(work, options)
        finally:
            self._stop_workers(work, workers)

        if self._run_errors:
            error = self._run_errors[0]
            if not isinstance(error, (psycopg.OperationalError, DatabaseUnavailable)):
                raise error
            raise DatabaseUnavailable(
                f"the database failed during the run: {error}; jobs not recorded stay PROCESSING "
                f"until their lease expires and are then retried"
            ) from error
        return self.summary

    def _feed(self, work: queue.Queue, options: RunOptions) -> None:
        claimed = 0
        with self.database.connection() as conn:
            while self._time_to_start_jobs() and not self._run_errors:
                limit = options.batch_size
                if options.max_jobs is not None:
                    limit = min(limit, options.max_jobs - claimed)
                    if limit <= 0:
                        break
                # The lease outlives the invocation: the Lambda is stopped at
                # its timeout, long before another processor may claim the job.
                lease_seconds = self.remaining_seconds() + self.settings.lease_margin_seconds
                try:
                    jobs = claim_due_jobs(
                        conn, owner=self.owner, limit=limit, lease_seconds=lease_seconds, types=options.types
                    )
                except psycopg.OperationalError as exc:
                    self._record_run_error(exc)
                    break
                if not jobs:
                    # Running jobs may still enqueue due follow-ups (an
                    # escalation's notifications), so stop only when a claim
                    # finds nothing after every claimed job has settled.
                    if not self._wait_until_settled():
                        break
                    continue
                claimed += len(jobs)
                with self._lock:
                    self._in_flight += len(jobs)
                for job in jobs:
                    # Every worker may be stuck in a handler; then the job waits for no one.
                    if not self._put(work, job, keep_trying=self._time_to_start_jobs):
                        with self._lock:
                            self._handed_back.append(job)
                        self._settle(1)

    def _wait_until_settled(self) -> bool:
        """Wait until no claimed job is unsettled; return False when nothing was in flight.

        NOTE: a claim that ran while the last job's outcome was committing
        finds nothing, and if that job settled before this check the run
        ends, so a retry due at once (RETRY_BASE_SECONDS=0) waits for the
        next run.
        """
        with self._settled:
            if self._in_flight == 0:
                return False
            while self._in_flight and not self._run_errors and self._time_to_start_jobs():
                self._settled.wait(timeout=0.5)
            return True

    def _settle(self, count: int) -> None:
        if count:
            with self._settled:
                self._in_flight -= count
                self._settled.notify_all()

    def _time_to_start_jobs(self) -> bool:
        return self.remaining_seconds() > self.settings.job_start_margin_seconds

    def _time_to_wait(self) -> bool:
        return self.remaining_seconds() > RETURN_MARGIN_SECONDS

    @staticmethod
    def _put(work: queue.Queue, item: object, *, keep_trying: Callable[[], bool]) -> bool:
        """Put ``item`` on the queue; return False when it stayed full until ``keep_trying`` said stop."""
        while True:
            try:
                work.put(item, timeout=0.5)
                return True
            except queue.Full:
                if not keep_trying():
                    return False

    # -- a worker -----------------------------------------------------

    def _work(self, work: queue.Queue) -> None:
        group = _Group(self)
        try:
            with self.database.connection() as conn:
                group.conn = conn
                if self._work_until_stopped(work, group):
                    return
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:
            self._record_run_error(exc)
            group.abandon()
        except Exception as exc:  # noqa: BLE001 - a worker must never die silently
            logger.exception("worker stopped by an unexpected error", extra={"action": "worker_error"})
            self._record_run_error(exc)
            group.abandon()

        # After an error, keep taking jobs so the feeder never blocks; they
        # are handed back at the end of the run.
        while (item := work.get()) is not _STOP:
            with self._lock:
                self._handed_back.append(item)
            self._settle(1)

    def _work_until_stopped(self, work: queue.Queue, group: _Group) -> bool:
        while True:
            try:
                # With a transaction open, wait only briefly before committing it.
                item = work.get(timeout=GROUP_COMMIT_SECONDS) if group.open else work.get()
            except queue.Empty:
                group.commit()
                continue
            if item is _STOP:
                group.commit()
                return True
            if self._run_errors or not self._time_to_start_jobs():
                with self._lock:
                    self._handed_back.append(item)
                self._settle(1)
                continue
            if group.open and group.age() > GROUP_COMMIT_SECONDS:
                group.commit()
            group.begin()
            group.jobs_in_transaction += 1
            self._run_job(group, item)
            if work.empty():
                group.commit()

    def _run_job(self, group: _Group, job: Job) -> None:
        started = time.monotonic()
        log = _JobLogger(job, self.owner)
        log.info("job started", action="job_started")
        ctx = JobContext(job, group.conn, settings=self.settings, logger=log, remaining_seconds=self.remaining_seconds)
        thread = threading.current_thread().name
        with self._lock:
            self._running[thread] = job

        try:
            handler = self.handler_lookup(job.type)
            outcome = handler(job, ctx)
            if outcome is None:
                outcome = Complete()
            elif not isinstance(outcome, OUTCOME_TYPES):
                raise TypeError(
                    f"the {job.type.value} handler returned {_clip(repr(outcome))}; "
                    f"return None or an outcome (Complete, RetryAfter, SnoozeUntil, Cancel, Fail)"
                )
            if group.conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                # Recording the outcome would fail and take the group's other jobs with it.
                raise RuntimeError(
                    "the handler left its transaction aborted: a statement failed and the handler "
                    "caught the error; let database errors propagate instead"
                )
        except PermanentError as exc:
            ctx.rollback_writes()
            outcome = Fail(_describe(exc))
        # Signals reach only the main thread, so a SystemExit or KeyboardInterrupt
        # here came from the handler's own code: record it like any other error.
        except BaseException as exc:  # noqa: BLE001 - any handler error is recorded on the job
            if isinstance(exc, psycopg.Error) and group.conn.broken:
                raise  # the connection is gone: the run stops, and lease rescue retries the job
            # A deadlock or serialization failure leaves the connection usable:
            # undo the handler's writes and retry the job like any other error.
            ctx.rollback_writes()
            outcome = _Raised(exc)
        finally:
            with self._lock:
                self._running.pop(thread, None)

        duration_ms = round((time.monotonic() - started) * 1000, 1)
        if isinstance(outcome, Complete) and not ctx.touched:
            group.defer_completion(job, outcome, duration_ms)
            return
        wrote = ctx.touched
        word, delay = self._record(group.conn, job, outcome)
        if word:
            ctx.keep_writes()
        else:
            ctx.rollback_writes()
        self._count_outcome(job, word, duration_ms, outcome, delay)
        if wrote:
            # The handler's row locks (an incident, say) must not outlive its
            # job while later jobs of the group run.
            group.commit()

    def _record(self, conn: psycopg.Connection, job: Job, outcome: Any) -> tuple[str | None, float | None]:
        """Write the job's new status, fenced by lease owner and attempt.

        Returns the outcome's word (``completed``, ``retried`` ...) or None
        when the lease was lost, and the retry delay when there is one.
        """
        delay = None
        fence = {"id": job.id, "owner": self.owner, "attempt": job.attempts}
        if isinstance(outcome, Complete):
            changed = conn.execute(queries["complete_job"], {**fence, "result": _result_json(outcome.result)})
            word = "completed"
        elif isinstance(outcome, SnoozeUntil):
            changed = conn.execute(queries["snooze_job"], {**fence, "run_at": outcome.run_at})
            word = "snoozed"
        elif isinstance(outcome, Cancel):
            changed = conn.execute(queries["cancel_leased_job"], {**fence, "reason": outcome.reason})
            word = "cancelled"
        elif isinstance(outcome, Fail):
            changed = conn.execute(queries["fail_job"], {**fence, "error": _clip(outcome.reason), "kind": "permanent"})
            word = "failed"
        else:
            error, kind, delay = self._retry_plan(job, outcome)
            if job.attempts >= job.max_attempts:
                changed = conn.execute(queries["fail_job"], {**fence, "error": error, "kind": kind})
                word = "failed"
            else:
                changed = conn.execute(
                    queries["schedule_retry"], {**fence, "error": error, "kind": kind, "delay_seconds": delay}
                )
                word = "retried"
        return (word if changed.fetchone() is not None else None), delay

    def _retry_plan(self, job: Job, outcome: Any) -> tuple[str, str, float]:
        if isinstance(outcome, RetryAfter):
            seconds = outcome.seconds if outcome.seconds >= 0 else 0.0
            return _clip(outcome.reason), "retry_requested", min(seconds, self.settings.retry_max_seconds)
        delay = retry_delay_seconds(
            job.attempts,
            base_seconds=self.settings.retry_base_seconds,
            max_seconds=self.settings.retry_max_seconds,
            jitter=self.settings.retry_jitter,
        )
        return _clip(_describe(outcome.error)), "exception", delay

    def _count_outcome(
        self, job: Job, word: str | None, duration_ms: float, outcome: Any = None, delay: float | None = None
    ) -> None:
        log = _JobLogger(job, self.owner)
        if word is None:
            with self._lock:
                self.summary.lease_lost += 1
            log.warning(
                "lease lost: the job was rescued or claimed again, so this outcome was not recorded",
                action="lease_lost",
                duration_ms=duration_ms,
            )
            return
        with self._lock:
            self.summary.counts[word] += 1
        fields: dict[str, Any] = {"action": f"job_{word}", "duration_ms": duration_ms}
        if word == "retried":
            fields["retry_in_seconds"] = round(delay or 0.0, 3)
            fields["error"] = _error_of(outcome)
            log.warning("job failed and will be retried", **fields)
        elif word == "failed":
            fields["error"] = _error_of(outcome)
            log.error("job failed for good", **fields)
        else:
            log.info(f"job {word}", **fields)

    # -- end of run ---------------------------------------------------

    def _stop_workers(self, work: queue.Queue, workers: list[threading.Thread]) -> None:
        """Stop the worker threads, hand back the jobs not started, and wait for any handler still running.

        A thread stuck in a handler that never returns cannot be stopped. Once
        the invocation is RETURN_MARGIN_SECONDS from its timeout, the jobs not
        started are handed back and each stuck job is logged at ERROR. The run
        then keeps waiting: Lambda's timeout ends the invocation and resets the
        execution environment (AWS Lambda developer guide, "Understanding the
        Lambda execution environment lifecycle"). That closes the stuck
        handler's connection and releases its row locks, where returning would
        leave it running in the frozen environment. Lease rescue retries the
        stuck job.
        """
        for _ in workers:
            self._put(work, _STOP, keep_trying=self._time_to_wait)
        for worker in workers:
            while worker.is_alive() and self._time_to_wait():
                worker.join(timeout=0.5)

        stuck = [worker for worker in workers if worker.is_alive()]
        if stuck:
            self._take_unstarted(work)
            with self._lock:
                running = [self._running[w.name] for w in stuck if w.name in self._running]
            for job in running:
                _JobLogger(job, self.owner).error(
                    "the handler is still running as the invocation's time runs out; jobs not started are "
                    "handed back, and this job is retried after its lease expires",
                    action="handler_stuck",
                )
        self._hand_back()

        while stuck:
            # A stuck handler that returns after all takes a stop item and ends its worker.
            try:
                work.put(_STOP, timeout=0.5)
            except queue.Full:
                pass
            stuck = [worker for worker in stuck if worker.join(timeout=0.5) or worker.is_alive()]

    def _take_unstarted(self, work: queue.Queue) -> None:
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                with self._lock:
                    self._handed_back.append(item)
                self._settle(1)

    def _hand_back(self) -> None:
        if not self._handed_back:
            return
        try:
            with self.database.connection() as conn:
                released = release_jobs(conn, self._handed_back, owner=self.owner)
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:
            self._record_run_error(exc)
            return
        self.summary.released = released
        logger.info(
            "handed back jobs that were claimed but not started",
            extra={"action": "jobs_released", "released": released, "claimed_unstarted": len(self._handed_back)},
        )

    def _record_run_error(self, exc: BaseException) -> None:
        with self._lock:
            first = not self._run_errors
            self._run_errors.append(exc)
        if first and isinstance(exc, (psycopg.OperationalError, DatabaseUnavailable)):
            logger.error("database error during the run", extra={"action": "database_error", "error": str(exc)})


class _Raised:
    """An exception a handler raised, as an outcome to record."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Group:
    """One worker's open transaction and the completions deferred to its commit."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self.conn: psycopg.Connection | None = None
        self.open = False
        self.started = 0.0
        self.deferred: list[tuple[Job, Complete, float]] = []
        self.jobs_in_transaction = 0

    def age(self) -> float:
        return time.monotonic() - self.started

    def begin(self) -> None:
        if not self.open:
            self.conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            self.open = True
            self.started = time.monotonic()

    def defer_completion(self, job: Job, outcome: Complete, duration_ms: float) -> None:
        self.deferred.append((job, outcome, duration_ms))

    def commit(self) -> None:
        if not self.open:
            return
        deferred, self.deferred = self.deferred, []
        recorded: set[str] = set()
        if deferred:
            rows = self.conn.execute(
                queries["complete_jobs"],
                {
                    "ids": [job.id for job, _, _ in deferred],
                    "attempts": [job.attempts for job, _, _ in deferred],
                    "results": [_result_json(outcome.result) for _, outcome, _ in deferred],
                    "owner": self.processor.owner,
                },
            ).fetchall()
            recorded = {row["id"] for row in rows}
        self.conn.execute("COMMIT")
        self.open = False
        settled, self.jobs_in_transaction = self.jobs_in_transaction, 0
        self.processor._settle(settled)
        for job, outcome, duration_ms in deferred:
            self.processor._count_outcome(job, "completed" if job.id in recorded else None, duration_ms, outcome)

    def abandon(self) -> None:
        self.deferred = []
        self.open = False
        settled, self.jobs_in_transaction = self.jobs_in_transaction, 0
        self.processor._settle(settled)


class _JobLogger:
    """Logs with the job's fields on every line."""

    def __init__(self, job: Job, owner: str) -> None:
        self.fields = {"job_id": job.id, "job_type": job.type.value, "attempt": job.attempts, "lease_owner": owner}

    def _log(self, level: str, message: str, fields: dict[str, Any]) -> None:
        getattr(logger, level)(message, extra={**self.fields, **fields})

    def info(self, message: str, **fields: Any) -> None:
        self._log("info", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._log("warning", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._log("error", message, fields)

    def debug(self, message: str, **fields: Any) -> None:
        self._log("debug", message, fields)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error_of(outcome: Any) -> str | None:
    if isinstance(outcome, _Raised):
        return _clip(_describe(outcome.error))
    if isinstance(outcome, (Fail, RetryAfter)):
        return _clip(outcome.reason)
    return None


def _clip(text: str) -> str:
    # PostgreSQL text cannot hold NUL, and an error message may contain one.
    text = text.replace("\x00", "\ufffd")
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def _result_json(result: Any) -> str | None:
    if result is None:
        return None
    try:
        text = json.dumps(result, default=str, allow_nan=False)
    except (ValueError, RecursionError):  # NaN, a circular reference, or nesting too deep
        return json.dumps({"unserializable": repr(result)[:MAX_ERROR_LENGTH]})
    return _JSON_NUL.sub(r"\1\\ufffd", text)
