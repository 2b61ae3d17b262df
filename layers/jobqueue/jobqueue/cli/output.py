"""Text that the command line prints for people: tables of jobs, one job, statistics.

Scripts use ``--json`` instead, which prints the same data as the API.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jobqueue.durations import format_duration
from jobqueue.jobs import Job
from jobqueue.states import JobStatus

# Longer errors are cut in tables; ``jobqueue show`` prints them whole.
TABLE_ERROR_WIDTH = 60


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Return rows as left-aligned columns under a header line."""
    cells = [[str(header) for header in headers]] + [
        ["" if value is None else str(value) for value in row] for row in rows
    ]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)




def format_job_table(jobs: Sequence[Job]) -> str:
    """Return one line per job: id, type, status, attempts, due time and the last error."""
    rows = []
    for job in jobs:
        view = job.to_dict()
        error = (job.error or "").replace("\n", " ")
        if len(error) > TABLE_ERROR_WIDTH:
            error = error[: TABLE_ERROR_WIDTH - 1] + "…"
        rows.append(
            [job.id, job.type.value, job.status.value, f"{job.attempts}/{job.max_attempts}", view["scheduledAt"], error]
        )
    return table(["ID", "TYPE", "STATUS", "ATTEMPTS", "SCHEDULED AT", "ERROR"], rows)


def format_job(job: Job) -> str:
    """Return every field of one job, its payload and result as indented JSON, and its error history."""
    view = job.to_dict()
    lines = [
        f"id:            {job.id}",
        f"type:          {job.type.value}",
        f"status:        {job.status.value}",
        f"attempts:      {job.attempts} of {job.max_attempts}",
        f"priority:      {job.priority}",
        f"dedup key:     {_or_dash(job.dedup_key)}",
        f"scheduled at:  {view['scheduledAt']}",
        f"started at:    {_or_dash(view['startedAt'])}",
        f"completed at:  {_or_dash(view['completedAt'])}",
        f"failed at:     {_or_dash(view['failedAt'])}",
        f"created at:    {_or_dash(view['createdAt'])}",
        f"updated at:    {_or_dash(view['updatedAt'])}",
    ]
    if job.status is JobStatus.PROCESSING:
        lines.append(f"lease owner:   {_or_dash(job.lease_owner)}")
        lines.append(f"lease expires: {_or_dash(view['leaseExpiresAt'])}")
    lines.append(f"error:         {_or_dash(job.error)}")
    lines.append("payload:")
    lines.append(_indented_json(job.payload))
    if job.result is not None:
        lines.append("result:")
        lines.append(_indented_json(job.result))
    lines.append(f"error history: {len(job.error_history)} entries" if job.error_history else "error history: none")
    for entry in job.error_history:
        lines.append(
            f"  attempt {entry.get('attempt')} at {entry.get('at')} ({entry.get('kind')}): {entry.get('error')}"
        )
    return "\n".join(lines)


def format_stats(stats: dict[str, Any]) -> str:
    """Return the counts by status, a table of counts by type and status, and the queue's lag."""
    statuses = [status.value for status in JobStatus]
    by_status = table(
        ["STATUS", "JOBS"], [[status, stats[status.lower()]] for status in statuses] + [["total", stats["total"]]]
    )
    by_type = table(
        ["TYPE", *statuses],
        [
            [job_type, *(counts.get(status.lower(), 0) for status in statuses)]
            for job_type, counts in stats["byType"].items()
        ],
    )
    age = stats["oldestDueAgeSeconds"]
    lag = "no job is due" if age is None else f"the oldest due job has waited {format_duration(age)}"
    return f"{by_status}\n\n{by_type}\n\nlag: {lag}"


def _or_dash(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _indented_json(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return "\n".join("  " + line for line in text.splitlines())
