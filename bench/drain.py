"""Drain figures: how fast processor invocations empty a queue of due jobs.

Each processor is a child process (``bench.processor_worker``) that has
already done its cold start. A run loads the jobs, then starts every
processor at once. The drain time runs from the first start to the last
finish, so with several processors it includes the slowest one.

The processors run with the template's defaults (``LogLevel`` INFO,
``BatchSize`` 50, ``WorkerThreads`` 8). Two more one-processor figures
change the template parameters a user would tune for throughput, as the
peers' tuned figures do: the log level alone, then the log level and the
batch size.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.child import Child
from bench.jobs import count_by_status, load_due_jobs, reset_queue
from bench.report import Figure
from bench.server import BenchError, Server
from bench.settings import BenchSettings
from jobqueue.migrations import migrate

NOOP = {"task": "noop", "args": {}}
TUNED_LOG_LEVEL = "WARNING"
TUNED_BATCH_SIZE = 500


@dataclass(frozen=True)
class ProcessorSettings:
    worker_threads: int
    batch_size: int
    log_level: str = "INFO"

    def describe(self) -> str:
        text = f"{self.worker_threads} threads, batch {self.batch_size}"
        return text if self.log_level == "INFO" else f"{text}, log level {self.log_level}"


def drain_figures(server: Server, settings: BenchSettings) -> list[Figure]:
    """Measure the no-op drain with each process count and with tuned settings, then the I/O-bound drain."""
    url = server.create_database("drain")
    migrate(url)
    default = ProcessorSettings(settings.worker_threads, settings.batch_size)
    jobs = settings.drain_jobs
    figures = []
    for processes in settings.drain_processes:
        noun = "processor" if processes == 1 else "processors"
        plural = "es" if processes > 1 else ""
        figure = Figure(
            key=f"drain_noop_{processes}",
            name=f"drain no-op, {processes} {noun}",
            unit="jobs/s",
            settings=f"{jobs:,} noop jobs, {processes} process{plural} × {default.describe()}",
        )
        _measure(url, settings, figure, processes, jobs, NOOP, default)
        figures.append(figure)

    variants = [
        ("drain_noop_1_quiet", f"log level {TUNED_LOG_LEVEL}", ProcessorSettings(
            settings.worker_threads, settings.batch_size, TUNED_LOG_LEVEL)),
        ("drain_noop_1_tuned", f"log level {TUNED_LOG_LEVEL}, batch {TUNED_BATCH_SIZE}", ProcessorSettings(
            settings.worker_threads, TUNED_BATCH_SIZE, TUNED_LOG_LEVEL)),
    ]  # fmt: skip
    for key, label, processor in variants:
        figure = Figure(
            key=key,
            name=f"drain no-op, 1 processor, {label}",
            unit="jobs/s",
            settings=f"{jobs:,} noop jobs, 1 process × {processor.describe()}",
        )
        _measure(url, settings, figure, 1, jobs, NOOP, processor)
        figures.append(figure)

    ideal = settings.worker_threads / settings.io_sleep_seconds
    figure = Figure(
        key="drain_io",
        name=f"drain I/O-bound ({settings.io_sleep_seconds * 1000:g} ms per job)",
        unit="jobs/s",
        settings=f"{settings.io_jobs:,} sleep jobs, 1 process × {default.describe()}",
        details={"ideal_jobs_per_second": ideal},
    )
    sleep = {"task": "sleep", "args": {"seconds": settings.io_sleep_seconds}}
    _measure(url, settings, figure, 1, settings.io_jobs, sleep, default)
    figures.append(figure)

    server.drop_database(url)
    return figures


def _measure(
    url: str,
    settings: BenchSettings,
    figure: Figure,
    processes: int,
    jobs: int,
    payload: dict,
    processor: ProcessorSettings,
) -> None:
    args = [
        "--database-url", url,
        "--worker-threads", str(processor.worker_threads),
        "--batch-size", str(processor.batch_size),
        "--log-level", processor.log_level,
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
