"""Child process: one processor execution environment that runs the processor function on command.

It invokes ``ProcessorFunction`` from ``template.yaml`` through the local
runner (``jobqueue_local.invoke``), with the scheduled event the
EventBridge schedule sends, the way Lambda would. The first invocation,
on an empty queue, is the cold start and is not measured. Then the
parent loads jobs and sends ``run``. Each run is one warm invocation
that drains every due job it can claim.

    python -m bench.processor_worker --database-url URL [--worker-threads 8] [--batch-size 50] [--log-level INFO]
"""

from __future__ import annotations

import argparse
import json
import time

from bench.child import Channel
from bench.local_runner import resolve_each_function_once
from bench.server import PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "template.yaml"
SCHEDULED_EVENT = PROJECT_ROOT / "events" / "processor-scheduled.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--worker-threads", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args()

    channel = Channel()
    resolve_each_function_once()
    from jobqueue_local.invoke import invoke

    event = json.loads(SCHEDULED_EVENT.read_text(encoding="utf-8"))
    env = {
        "DATABASE_URL": args.database_url,
        # The local run reads no secret; an empty value keeps the runner from
        # warning that the DatabaseSecretArn parameter has no value.
        "DB_SECRET_ARN": "",
        "WORKER_THREADS": str(args.worker_threads),
        "BATCH_SIZE": str(args.batch_size),
        # The template's LogLevel parameter sets this; the logger reads it at the cold start.
        "POWERTOOLS_LOG_LEVEL": args.log_level,
    }

    def run_processor() -> dict:
        return invoke("ProcessorFunction", event, template_path=TEMPLATE, env_overrides=env)

    run_processor()
    channel.send("ready")
    for _ in channel.commands():
        started = time.time()
        clock = time.perf_counter()
        result = run_processor()
        seconds = time.perf_counter() - clock
        channel.send("done", started=started, finished=started + seconds, seconds=seconds, result=result)


if __name__ == "__main__":
    main()
