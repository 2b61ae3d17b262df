"""Enqueue figures: jobs per second through the API function and through the library.

Each mode runs in a child process (``bench.enqueue_worker``) that has
done its cold start; every run starts from an empty table.
"""

from __future__ import annotations

from bench.child import Child
from bench.jobs import count_by_status, reset_queue
from bench.report import Figure
from bench.server import BenchError, Server
from bench.settings import BenchSettings
from jobqueue.migrations import migrate


def enqueue_figures(server: Server, settings: BenchSettings) -> list[Figure]:
    url = server.create_database("enqueue")
    migrate(url)
    single = settings.single_enqueue_jobs
    bulk = settings.bulk_enqueue_jobs
    size = settings.bulk_size
    modes = [
        ("enqueue_api_single", "enqueue, 1 job per API call", "api-single", single,
         f"{single:,} jobs, an ApiFunction POST /jobs per job"),
        ("enqueue_library_single", "enqueue, 1 job per enqueue()", "library-single", single,
         f"{single:,} jobs, enqueue() and commit per job"),
        ("enqueue_api_bulk", f"enqueue, API bulk ({size}/call)", "api-bulk", bulk,
         f"{bulk:,} jobs, ApiFunction POST /jobs/bulk of {size}"),
        ("enqueue_library_bulk", f"enqueue, enqueue_many ({size}/call)", "library-bulk", bulk,
         f"{bulk:,} jobs, enqueue_many() of {size}"),
    ]  # fmt: skip
    figures = []
    for key, name, mode, jobs, description in modes:
        figure = Figure(key=key, name=name, unit="jobs/s", settings=description)
        _measure(url, settings, figure, mode, jobs)
        figures.append(figure)
    server.drop_database(url)
    return figures


def _measure(url: str, settings: BenchSettings, figure: Figure, mode: str, jobs: int) -> None:
    args = ["--database-url", url, "--mode", mode, "--jobs", str(jobs), "--bulk-size", str(settings.bulk_size)]
    child = Child(f"enqueue worker ({mode})", "bench.enqueue_worker", args)
    try:
        child.receive("ready")
        for _ in range(settings.runs):
            reset_queue(url)
            child.send("run")
            result = child.receive("done")
            pending = count_by_status(url).get("PENDING", 0)
            if result["created"] != jobs or pending != jobs:
                raise BenchError(f"{figure.name}: created {result['created']} jobs, {pending} PENDING, expected {jobs}")
            figure.samples.append(jobs / result["seconds"])
    finally:
        child.close()
