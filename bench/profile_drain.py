"""Profile one processor invocation that drains no-op jobs, and print where its time goes.

From Python 3.12 on, one cProfile profiler records the calls of every
thread: the feeder, which claims batches, and the worker threads. So the
``tottime`` column covers the whole process, while cumulative times mix
the threads' stacks and are less reliable. On Python 3.11 each thread
gets a profiler of its own, and their statistics are merged. Profiling
slows every Python call down, so the rate printed here is lower than the
drain figure of ``make bench``: read the shares of the functions.

    PYTHONPATH=layers/jobqueue:local:. .venv-bench/bin/python -m bench.profile_drain [--jobs 20000] [--sort tottime]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import threading
import time

from bench.child import Channel
from bench.jobs import load_due_jobs
from bench.local_runner import resolve_each_function_once
from bench.server import PROJECT_ROOT, open_server
from jobqueue.migrations import migrate

TEMPLATE = PROJECT_ROOT / "template.yaml"
SCHEDULED_EVENT = PROJECT_ROOT / "events" / "processor-scheduled.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="no-op jobs to drain")
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"), help="pstats sort key")
    parser.add_argument("--limit", type=int, default=30, help="functions to print")
    args = parser.parse_args()

    # The functions' logs go to /dev/null; the report goes to the original stdout.
    channel = Channel()
    resolve_each_function_once()
    from jobqueue_local.invoke import invoke

    server = open_server()
    try:
        url = server.create_database("profile")
        migrate(url)
        event = json.loads(SCHEDULED_EVENT.read_text(encoding="utf-8"))
        env = {"DATABASE_URL": url, "DB_SECRET_ARN": ""}
        invoke("ProcessorFunction", event, template_path=TEMPLATE, env_overrides=env)
        load_due_jobs(url, args.jobs)

        # Before 3.12, a profiler records only the thread that enabled it.
        profiles = _profile_new_threads() if sys.version_info < (3, 12) else []
        main_profile = cProfile.Profile()
        clock = time.perf_counter()
        main_profile.enable()
        result = invoke("ProcessorFunction", event, template_path=TEMPLATE, env_overrides=env)
        main_profile.disable()
        seconds = time.perf_counter() - clock
    finally:
        server.close()

    stats = pstats.Stats(main_profile, stream=io.StringIO())
    for profile in profiles:
        stats.add(profile)
    report = io.StringIO()
    stats.stream = report
    stats.sort_stats(args.sort).print_stats(args.limit)
    channel.send(
        "profile",
        jobs=result["processed"],
        seconds=round(seconds, 2),
        jobs_per_second=round(result["processed"] / seconds),
        threads_profiled=len(profiles) + 1,
    )
    channel.write(report.getvalue())


def _profile_new_threads() -> list[cProfile.Profile]:
    """Make every thread started from now on run under its own profiler; return the list they are added to."""
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        profile = cProfile.Profile()
        profile.enable()
        try:
            run(thread)
        finally:
            profile.disable()
            with lock:
                profiles.append(profile)

    threading.Thread.run = profiled_run
    return profiles


if __name__ == "__main__":
    main()
