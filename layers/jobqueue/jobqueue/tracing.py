"""AWS X-Ray tracing of the processor through Powertools Tracer, when tracing is on.

Tracing is on only inside Lambda (``LAMBDA_TASK_ROOT`` is set and
``AWS_SAM_LOCAL`` is not) while ``POWERTOOLS_TRACE_DISABLED`` is unset or
false. These are Powertools' own rules (version 3.37), and the template
sets ``POWERTOOLS_TRACE_DISABLED`` to true unless ``TracingMode`` is
``Active``. When tracing is off, nothing here imports the X-Ray SDK, whose
import adds about 0.4 s to a cold start (``python -X importtime`` on a
two-core developer machine).

When tracing is on:

- the handler runs in Powertools' ``## lambda_handler`` subsegment, which
  gets the run's annotations once the run ends: ``job_types``,
  ``jobs_total``, ``jobs_failed`` and ``failed_types``;
- each job's handler runs in a ``## job <TYPE>`` subsegment annotated with
  ``job_type`` and ``outcome``, with the job id and attempt as metadata.

The X-Ray SDK keeps the current segment per thread, and jobs run on the
processor's worker threads. In Lambda the SDK's context gives each thread
a facade of the function's segment, built from the trace header in
``_X_AMZN_TRACE_ID``, so a job's subsegment is a child of the function's
segment, next to ``## lambda_handler``. On a thread with no segment, the
SDK returns no subsegment and the job runs untraced.
"""

from __future__ import annotations

import functools
import os
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from jobqueue.errors import PermanentError
from jobqueue.logs import logger
from jobqueue.outcomes import Cancel, Complete, Fail, RetryAfter, SnoozeUntil

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

    from jobqueue.jobs import Job
    from jobqueue.metrics import TypeMetrics
    from jobqueue.processor import RunSummary
    from jobqueue.states import JobType

# Only the clients that job handlers use are patched. psycopg is not: a
# subsegment per SQL statement would cost more than the jobs' own work.
PATCHED_MODULES = ("botocore", "httplib")
_TRUE_WORDS = ("1", "true", "yes", "on", "y", "t")

_tracer: Tracer | None = None
_tracer_checked = False
_tracer_lock = threading.Lock()


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Return True when Powertools Tracer would trace in this environment."""
    env = os.environ if env is None else env
    if env.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUE_WORDS:
        return False
    return bool(env.get("LAMBDA_TASK_ROOT")) and not env.get("AWS_SAM_LOCAL") and not env.get("AWS_CHALICE_CLI_MODE")


def get_tracer() -> Tracer | None:
    """Return the process's Tracer, created on first use, or None when tracing is off."""
    global _tracer, _tracer_checked
    with _tracer_lock:
        if not _tracer_checked:
            if tracing_enabled():
                from aws_lambda_powertools import Tracer

                _tracer = Tracer(patch_modules=PATCHED_MODULES)
            _tracer_checked = True
        return _tracer


def reset_tracer() -> None:
    """Forget the Tracer, so the next ``get_tracer()`` reads the environment again."""
    global _tracer, _tracer_checked
    with _tracer_lock:
        _tracer = None
        _tracer_checked = False


def capture_lambda_handler(handler: Callable) -> Callable:
    """Decorate a Lambda handler with Powertools' ``capture_lambda_handler`` when tracing is on."""
    tracer = get_tracer()
    return handler if tracer is None else tracer.capture_lambda_handler(handler)


def handler_lookup(lookup: Callable[[JobType], Callable]) -> Callable[[JobType], Callable]:
    """Return ``lookup`` itself when tracing is off, else a lookup whose handlers each run in a subsegment."""
    tracer = get_tracer()
    if tracer is None:
        return lookup

    def traced_lookup(job_type: JobType) -> Callable:
        return functools.partial(_run_traced, tracer.provider, lookup(job_type))

    return traced_lookup


def _run_traced(recorder: Any, handler: Callable, job: Job, ctx: Any) -> Any:
    subsegment = recorder.begin_subsegment(f"## job {job.type.value}")
    if subsegment is None:
        return handler(job, ctx)
    subsegment.put_annotation("job_type", job.type.value)
    subsegment.put_metadata("job_id", job.id, "jobqueue")
    subsegment.put_metadata("attempt", job.attempts, "jobqueue")
    try:
        outcome = handler(job, ctx)
    except Exception as exc:
        subsegment.put_annotation("outcome", _outcome_of_error(job, exc))
        subsegment.add_exception(exc, traceback.extract_tb(exc.__traceback__))
        raise
    else:
        subsegment.put_annotation("outcome", _outcome_of_result(job, outcome))
        return outcome
    finally:
        recorder.end_subsegment()


# These follow Processor._record: a retry on the job's last attempt fails
# it. The processor records nothing when the job's lease was lost or the
# run stopped, so the annotation is the outcome it was about to record.
def _outcome_of_error(job: Job, error: Exception) -> str:
    if isinstance(error, PermanentError) or job.attempts >= job.max_attempts:
        return "failed"
    return "retried"


def _outcome_of_result(job: Job, result: Any) -> str:
    if result is None or isinstance(result, Complete):
        return "completed"
    if isinstance(result, RetryAfter):
        return "failed" if job.attempts >= job.max_attempts else "retried"
    if isinstance(result, SnoozeUntil):
        return "snoozed"
    if isinstance(result, Cancel):
        return "cancelled"
    if isinstance(result, Fail):
        return "failed"
    # The processor rejects any other return value and retries the job.
    return "failed" if job.attempts >= job.max_attempts else "retried"


def annotate_run(by_type: Mapping[str, TypeMetrics], summary: RunSummary) -> None:
    """Annotate the handler's subsegment with the run's job types and failures; do nothing when tracing is off."""
    tracer = get_tracer()
    if tracer is None:
        return
    subsegment = tracer.provider.current_subsegment()
    if subsegment is None:
        # The function's own segment is a facade that X-Ray does not let
        # code change, so annotations need a subsegment.
        logger.debug("run not annotated: no open subsegment")
        return
    failed_types = sorted(job_type for job_type, entry in by_type.items() if entry.outcomes["failed"])
    subsegment.put_annotation("job_types", ",".join(sorted(by_type)))
    subsegment.put_annotation("jobs_total", summary.as_dict()["total"])
    subsegment.put_annotation("jobs_failed", summary.counts["failed"])
    if failed_types:
        subsegment.put_annotation("failed_types", ",".join(failed_types))
