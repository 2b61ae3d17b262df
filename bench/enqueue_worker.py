"""Child process: enqueue no-op jobs on command, through the API function or the library.

Modes:

- ``api-single``: one ``POST /jobs`` invocation of ``ApiFunction`` per job;
- ``api-bulk``: ``POST /jobs/bulk`` invocations with ``--bulk-size`` jobs each;
- ``library-single``: ``jobqueue.enqueue.enqueue``, one call (and commit) per job;
- ``library-bulk``: ``jobqueue.enqueue.enqueue_many`` with ``--bulk-size`` jobs per call.

The API modes invoke the function through the local runner with the
sample events in ``events/`` and a new body. A first call enqueues one
job as the cold start, which is not measured. Then, for each measured
run, the parent empties the table and sends ``run``.

    python -m bench.enqueue_worker --database-url URL --mode api-bulk --jobs 20000 [--bulk-size 500]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from bench.child import Channel
from bench.local_runner import resolve_each_function_once
from bench.server import PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "template.yaml"
EVENTS = PROJECT_ROOT / "events"
NOOP_JOB = {"type": "SCHEDULED_TASK", "payload": {"task": "noop", "args": {}}}
MODES = ("api-single", "api-bulk", "library-single", "library-bulk")


class EnqueueFailed(RuntimeError):
    """The API rejected an enqueue the benchmark expected to succeed."""


def api_enqueuer(database_url: str, bulk_size: int | None) -> Callable[[int], int]:
    """Return a function that enqueues ``count`` jobs through ApiFunction and returns how many it created."""
    from jobqueue_local.invoke import invoke

    env = {"DATABASE_URL": database_url, "DB_SECRET_ARN": ""}
    if bulk_size is None:
        template = json.loads((EVENTS / "api-create-job.json").read_text(encoding="utf-8"))
        body = json.dumps(NOOP_JOB)
    else:
        template = json.loads((EVENTS / "api-create-jobs-bulk.json").read_text(encoding="utf-8"))

    def call(event: dict, expected: int) -> int:
        response = invoke("ApiFunction", event, template_path=TEMPLATE, env_overrides=env)
        created = json.loads(response["body"]).get("created")
        if response["statusCode"] != 201 or (bulk_size is not None and created != expected):
            raise EnqueueFailed(f"ApiFunction returned {response['statusCode']}: {response['body'][:500]}")
        return expected

    def enqueue_jobs(count: int) -> int:
        created = 0
        if bulk_size is None:
            for _ in range(count):
                created += call({**template, "body": body}, 1)
            return created
        while created < count:
            size = min(bulk_size, count - created)
            event = {**template, "body": json.dumps({"jobs": [NOOP_JOB] * size})}
            created += call(event, size)
        return created

    return enqueue_jobs


def library_enqueuer(database_url: str, bulk_size: int | None) -> Callable[[int], int]:
    """Return a function that enqueues ``count`` jobs with the library on one connection."""
    from jobqueue import db
    from jobqueue.enqueue import NewJob, enqueue, enqueue_many

    conn = db.connect(database_url)

    def enqueue_jobs(count: int) -> int:
        created = 0
        if bulk_size is None:
            for _ in range(count):
                created += enqueue(conn, NewJob(NOOP_JOB["type"], NOOP_JOB["payload"])).created
            return created
        while created < count:
            size = min(bulk_size, count - created)
            jobs = [NewJob(NOOP_JOB["type"], NOOP_JOB["payload"]) for _ in range(size)]
            created += sum(result.created for result in enqueue_many(conn, jobs))
        return created

    return enqueue_jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--bulk-size", type=int, default=500)
    args = parser.parse_args()

    channel = Channel()
    resolve_each_function_once()
    bulk_size = args.bulk_size if args.mode.endswith("-bulk") else None
    make = api_enqueuer if args.mode.startswith("api-") else library_enqueuer
    enqueue_jobs = make(args.database_url, bulk_size)

    enqueue_jobs(1)
    channel.send("ready")
    for _ in channel.commands():
        clock = time.perf_counter()
        created = enqueue_jobs(args.jobs)
        channel.send("done", seconds=time.perf_counter() - clock, created=created)


if __name__ == "__main__":
    main()
