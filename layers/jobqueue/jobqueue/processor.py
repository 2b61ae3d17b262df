"""The processor's run: rescue expired leases, then claim and run batches.

One run is one Lambda invocation. The main thread claims batches of due
jobs into a queue, and worker threads take jobs from it and run their
handlers. What a job's outcome costs depends on what its handler did:

- a handler that wrote through ``ctx.conn`` began a transaction; its job's
  new status is written in that transaction, fenced by lease owner and
  attempt, and committed at once, so the handler's row locks are released;
- a handler that wrote nothing and completed hands its completion to the
  main thread, which writes all pending completions in one statement, in
  the same transaction as its next claim. Such a job costs no commit of
  its own, and its completion waits at most ``FLUSH_SECONDS``.

Either way a job's writes and its new status commit together. A processor
that dies loses only uncommitted outcomes, and lease rescue returns those
jobs to the queue.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from jobqueue.claim import claim_due_jobs_in_transaction, release_jobs
from jobqueue.config import DEFAULT_LEASE_SECONDS, Settings
from jobqueue.db import Database
from jobqueue.errors import DatabaseUnavailable, PermanentError
from jobqueue.handlers import get_handler
from jobqueue.jobs import Job
from jobqueue.logs import logger
from jobqueue.metrics import JobMetrics
from jobqueue.outcomes import OUTCOME_TYPES, Complete, Fail, JobContext
from jobqueue.recording import Raised, clip, complete_jobs, describe, error_of, record_outcome
from jobqueue.rescue import rescue_expired_leases
from jobqueue.retrying import retry_serialization_failures
from jobqueue.states import JobType
from jobqueue.stats import fold_count_deltas

# The maximum time a completed job waits before its completion is written.
FLUSH_SECONDS = 0.05
# Stop waiting for worker threads this long before the invocation times out,
# leaving time to hand back the jobs they did not start.
RETURN_MARGIN_SECONDS = 2.0
_STOP = object()


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
        words = ("completed", "failed", "retried", "cancelled", "snoozed")
        processed, failed, retried, cancelled, snoozed = (self.counts[word] for word in words)
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
        self.request_id = request_id
        # The request id names the invocation in logs. A Lambda async retry
        # reuses the request id, so the suffix keeps two deliveries of one
        # event from sharing a lease.
        self.owner = f"{request_id}/{uuid.uuid4().hex[:8]}"
        self.handler_lookup = handler_lookup
        self.summary = RunSummary()
        self.job_metrics = JobMetrics()
        self._lock = threading.Lock()
        # Signalled whenever a job settles or a completion is handed over.
        self._changed = threading.Condition(self._lock)
        # Claimed jobs whose outcome is not committed yet.
        self._in_flight = 0
        self._settled_count = 0
        self._completions: list[tuple[Job, Complete, float]] = []
        self._handed_back: list[Job] = []
        self._run_errors: list[BaseException] = []
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
            fold_count_deltas(conn)
        self.summary.rescued = rescued.total

        work: queue.Queue = queue.Queue()
        workers = [
            threading.Thread(target=self._work, args=(work,), name=f"jobqueue-worker-{n}", daemon=True)
            for n in range(self.settings.worker_threads)
        ]
        for worker in workers:
            worker.start()
        try:
            self._claim_and_flush(work, options)
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

    def _claim_and_flush(self, work: queue.Queue, options: RunOptions) -> None:
        """Claim batches and write pending completions, one transaction per round.

        The loop ends when a claim finds nothing (or may not claim more)
        and no claimed job is still running or waiting to be written.
        """
        claimed = 0
        # The settle count when a claim last found nothing. Until another
        # job settles, claiming again would find nothing either; after it,
        # a running job may have enqueued due follow-ups.
        empty_claim_mark: int | None = None

        def claim_limit() -> int:
            limit = options.batch_size
            if options.max_jobs is not None:
                limit = min(limit, options.max_jobs - claimed)
            if (
                limit <= 0
                or empty_claim_mark == self._settled_count
                or work.qsize() >= options.batch_size
                or not self._time_to_start_jobs()
            ):
                return 0
            return limit

        with self.database.connection() as conn:
            while True:
                with self._changed:
                    flush_at = time.monotonic() + FLUSH_SECONDS
                    limit = 0  # stays 0 when time is up before the first check
                    while not self._run_errors and self._time_to_wait():
                        limit = claim_limit()
                        pending = len(self._completions)
                        if limit or pending >= options.batch_size or (pending and time.monotonic() >= flush_at):
                            break
                        if not pending and not self._in_flight:
                            break
                        self._changed.wait(timeout=max(flush_at - time.monotonic(), 0.001))
                    completions, self._completions = self._completions, []
                if self._run_errors or (not limit and not completions):
                    # Completions taken here are written by _stop_workers.
                    with self._changed:
                        self._completions[:0] = completions
                    return

                try:
                    jobs, recorded = self._round(conn, completions, limit, options)
                except psycopg.OperationalError as exc:
                    self._record_run_error(exc)
                    self._settle(len(completions))
                    return

                for job, outcome, duration_ms in completions:
                    self._count_outcome(job, "completed" if job.id in recorded else None, duration_ms, outcome)
                self._settle(len(completions))
                if limit:
                    empty_claim_mark = None if jobs else self._settled_count
                claimed += len(jobs)
                with self._lock:
                    self._in_flight += len(jobs)
                for job in jobs:
                    work.put(job)

    def _round(
        self, conn: psycopg.Connection, completions: list, limit: int, options: RunOptions
    ) -> tuple[list[Job], set[str]]:
        # The lease outlives the invocation: the Lambda is stopped at its
        # timeout, long before another processor may claim the job.
        lease_seconds = self.remaining_seconds() + self.settings.lease_margin_seconds

        def transaction() -> tuple[list[Job], set[str]]:
            with conn.transaction():
                recorded = complete_jobs(conn, [(job, outcome) for job, outcome, _ in completions], owner=self.owner)
                jobs = []
                if limit > 0:
                    jobs = claim_due_jobs_in_transaction(
                        conn, owner=self.owner, limit=limit, lease_seconds=lease_seconds, types=options.types
                    )
            return jobs, recorded

        return retry_serialization_failures(transaction)

    def _time_to_start_jobs(self) -> bool:
        return self.remaining_seconds() > self.settings.job_start_margin_seconds

    def _time_to_wait(self) -> bool:
        return self.remaining_seconds() > RETURN_MARGIN_SECONDS

    def _settle(self, count: int) -> None:
        if count:
            with self._changed:
                self._in_flight -= count
                self._settled_count += 1
                self._changed.notify_all()

    # -- a worker -----------------------------------------------------

    def _work(self, work: queue.Queue) -> None:
        try:
            with self.database.connection() as conn:
                while (job := work.get()) is not _STOP:
                    if work.empty():
                        with self._changed:
                            self._changed.notify_all()  # the main thread may claim the next batch
                    if self._run_errors or not self._time_to_start_jobs():
                        self._hand_back_later(job)
                        continue
                    self._run_job(conn, job)
                return
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:
            self._record_run_error(exc)
        except Exception as exc:  # noqa: BLE001 - a worker must never die silently
            logger.exception("worker stopped by an unexpected error", extra={"action": "worker_error"})
            self._record_run_error(exc)

        # After an error, keep taking jobs so the run can end; they are
        # handed back at the end of the run.
        while (job := work.get()) is not _STOP:
            self._hand_back_later(job)

    def _run_job(self, conn: psycopg.Connection, job: Job) -> None:
        started = time.monotonic()
        log = _JobLogger(job, self.owner)
        log.debug("job started", action="job_started")
        ctx = JobContext(
            job,
            conn,
            settings=self.settings,
            logger=log,
            remaining_seconds=self.remaining_seconds,
            database=self.database,
        )

        thread = threading.current_thread().name
        with self._lock:
            self._running[thread] = job

        try:
            outcome = self.handler_lookup(job.type)(job, ctx)
            if outcome is None:
                outcome = Complete()
            elif not isinstance(outcome, OUTCOME_TYPES):
                raise TypeError(
                    f"the {job.type.value} handler returned {clip(repr(outcome))}; "
                    f"return None or an outcome (Complete, RetryAfter, SnoozeUntil, Cancel, Fail)"
                )
            if ctx.in_transaction and conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                raise RuntimeError(
                    "the handler left its transaction aborted: a statement failed and the handler "
                    "caught the error; let database errors propagate instead"
                )
        # Signals reach only the main thread, so a SystemExit or KeyboardInterrupt
        # here came from the handler's own code: record it like any other error.
        except BaseException as exc:  # noqa: BLE001 - any handler error is recorded on the job
            if isinstance(exc, psycopg.Error) and conn.broken:
                raise  # the connection is gone: the run stops, and lease rescue retries the job
            # A deadlock or serialization failure leaves the connection
            # usable: undo the handler's writes and record the error.
            if ctx.in_transaction:
                conn.execute("ROLLBACK")
                ctx.in_transaction = False
            outcome = Fail(describe(exc)) if isinstance(exc, PermanentError) else Raised(exc)
        finally:
            with self._lock:
                self._running.pop(thread, None)
        duration_ms = round((time.monotonic() - started) * 1000, 1)

        if isinstance(outcome, Complete) and not ctx.in_transaction:
            with self._changed:
                self._completions.append((job, outcome, duration_ms))
            return

        # The outcome is written in the handler's transaction when it began
        # one, or as a single statement that commits by itself.
        word, delay = record_outcome(conn, job, outcome, owner=self.owner, settings=self.settings)
        if ctx.in_transaction:
            conn.execute("COMMIT" if word else "ROLLBACK")
        self._count_outcome(job, word, duration_ms, outcome, delay)
        self._settle(1)

    def _hand_back_later(self, job: Job) -> None:
        with self._lock:
            self._handed_back.append(job)
        self._settle(1)

    # -- outcomes -----------------------------------------------------

    def _count_outcome(
        self, job: Job, word: str | None, duration_ms: float, outcome: Any = None, delay: float | None = None
    ) -> None:
        log = _JobLogger(job, self.owner)
        self.job_metrics.record(job.type, word, duration_ms)
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
            fields["error"] = error_of(outcome)
            log.warning("job failed and will be retried", **fields)
        elif word == "failed":
            fields["error"] = error_of(outcome)
            log.error("job failed for good", **fields)
        elif word == "cancelled":
            fields["reason"] = error_of(outcome)
            log.info("job cancelled", **fields)
        else:
            log.info(f"job {word}", **fields)

    # -- end of run ---------------------------------------------------

    def _stop_workers(self, work: queue.Queue, workers: list[threading.Thread]) -> None:
        """Stop the worker threads, write pending completions, and hand back the jobs not started.

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
            work.put(_STOP)
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
        self._flush_remaining()
        self._hand_back()

        for worker in stuck:
            worker.join()
        # A worker that was between taking a job and handing it back when the
        # first hand-back ran adds it now.
        self._hand_back()

    def _take_unstarted(self, work: queue.Queue) -> None:
        stops = 0
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stops += 1
            else:
                self._hand_back_later(item)
        # The stop items go back, so a stuck handler that returns after all ends its worker.
        for _ in range(stops):
            work.put(_STOP)

    def _flush_remaining(self) -> None:
        with self._changed:
            completions, self._completions = self._completions, []
        if not completions:
            return
        try:
            with self.database.connection() as conn:
                with conn.transaction():
                    recorded = complete_jobs(conn, [(job, outcome) for job, outcome, _ in completions], owner=self.owner)
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:
            self._record_run_error(exc)
            return
        for job, outcome, duration_ms in completions:
            self._count_outcome(job, "completed" if job.id in recorded else None, duration_ms, outcome)
        self._settle(len(completions))

    def _hand_back(self) -> None:
        """Release the jobs handed back so far; a later call releases only the ones added since."""
        with self._lock:
            jobs, self._handed_back = self._handed_back, []
        if not jobs:
            return
        try:
            with self.database.connection() as conn:
                released = release_jobs(conn, jobs, owner=self.owner)
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:
            self._record_run_error(exc)
            return
        self.summary.released += released
        logger.info(
            "handed back jobs that were claimed but not started",
            extra={"action": "jobs_released", "released": released, "claimed_unstarted": len(jobs)},
        )

    def _record_run_error(self, exc: BaseException) -> None:
        with self._changed:
            first = not self._run_errors
            self._run_errors.append(exc)
            self._changed.notify_all()
        if first and isinstance(exc, (psycopg.OperationalError, DatabaseUnavailable)):
            logger.error("database error during the run", extra={"action": "database_error", "error": str(exc)})


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
