"""Drain figures: how fast processor invocations empty a queue of due jobs.

Each processor is a child process (``bench.processor_worker``) that has
already done its cold start. A run loads the jobs, then starts every
processor at once; the drain time is from the first start to the last
finish, so with several processors it includes the slowest one.
"""

from __future__ import annotations

from bench.child import Child
from bench.jobs import count_by_status, load_due_jobs, reset_queue
from bench.report import Figure
from bench.server import BenchError, Server
from bench.settings import BenchSettings
from jobqueue.migrations import migrate


def drain_figures(server: Server, settings: BenchSettings) -> list[Figure]:
    """Measure the no-op drain with each process count, then the I/O-bound drain."""
    url = server.create_database("drain")
    migrate(url)
    threads = f"{settings.worker_threads} threads, batch {settings.batch_size}"
    figures = []
    for processes in settings.drain_processes:
        noun = "processor" if processes == 1 else "processors"
        figure = Figure(
            key=f"drain_noop_{processes}",
            name=f"drain no-op, {processes} {noun}",
            unit="jobs/s",
            settings=f"{settings.drain_jobs:,} noop jobs, {processes} process{'es' if processes > 1 else ''} × {threads}",
        )
        _measure(url, settings, figure, processes, settings.drain_jobs, {"task": "noop", "args": {}})
        figures.append(figure)

    ideal = settings.worker_threads / settings.io_sleep_seconds
    figure = Figure(
        key="drain_io",
        name=f"drain I/O-bound ({settings.io_sleep_seconds * 1000:g} ms per job)",
        unit="jobs/s",
        settings=f"{settings.io_jobs:,} sleep jobs, 1 process × {threads}",
        details={"ideal_jobs_per_second": ideal},
    )
    _measure(
        url, settings, figure, 1, settings.io_jobs, {"task": "sleep", "args": {"seconds": settings.io_sleep_seconds}}
    )
    figures.append(figure)

    server.drop_database(url)
    return figures


def _measure(url: str, settings: BenchSettings, figure: Figure, processes: int, jobs: int, payload: dict) -> None:
    args = [
        "--database-url", url,
        "--worker-threads", str(settings.worker_threads),
        "--batch-size", str(settings.batch_size),
    ]  # fmt: skip
    children = [Child(f"processor {n + 1} of {processes}", "bench.processor_worker", args) for n in range(processes)]
    runs = []
    try:
        for child in children:
            child.receive("ready")
        for _ in range(settings.runs):
            reset_queue(url)
            load_due_jobs(url, jobs, payload)
            for child in children:
                child.send("run")
            results = [child.receive("done") for child in children]

            seconds = max(result["finished"] for result in results) - min(result["started"] for result in results)
            processed = [result["result"]["processed"] for result in results]
            left = {status: count for status, count in count_by_status(url).items() if status != "COMPLETED"}
            if sum(processed) != jobs or left:
                raise BenchError(
                    f"{figure.name}: the processors completed {sum(processed)} of {jobs} jobs and left {left}; "
                    f"see the processor results {[result['result'] for result in results]}"
                )
            figure.samples.append(jobs / seconds)
            runs.append({"seconds": seconds, "processed_per_process": processed})
    finally:
        for child in children:
            child.close()
    figure.details["runs"] = runs
