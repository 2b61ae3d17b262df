"""pgqueuer: enqueue and drain no-op jobs, with its defaults and with a larger dequeue batch.

pgqueuer uses asyncpg when it is installed, as its documentation
recommends for throughput. Its ``QueueManager.run`` takes ``batch_size``
(jobs fetched per dequeue, default 10), and its performance-tuning guide
recommends raising it for short-lived jobs. The tuned drain uses
``TUNED_BATCH_SIZE``. A job that completes is deleted from the queue
table and logged in ``pgqueuer_log``, pgqueuer's durable default.

    python -m bench.peers.pgqueuer_peer --dsn URI --jobs 20000 --single-jobs 5000
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import asyncpg
from pgqueuer import PgQueuer, Queries
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.types import QueueExecutionMode

from bench.peers.common import Results, parse_args

DEFAULT_BATCH_SIZE = 10
TUNED_BATCH_SIZE = 100
ENTRYPOINT = "noop"


async def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    results = Results("pgqueuer", version("pgqueuer"))
    connection = await asyncpg.connect(dsn=args.dsn)
    queries = Queries(AsyncpgDriver(connection))
    await queries.install()

    async def empty() -> None:
        await queries.clear_queue()
        await queries.clear_queue_log()
        await queries.clear_statistics_log()

    async def fill() -> None:
        await empty()
        await enqueue_bulk(args.jobs)

    async def enqueue_single() -> int:
        for _ in range(args.single_jobs):
            await queries.enqueue(ENTRYPOINT, None)
        return args.single_jobs

    async def enqueue_bulk(count: int) -> int:
        done = 0
        while done < count:
            size = min(args.bulk_size, count - done)
            await queries.enqueue([ENTRYPOINT] * size, [None] * size, [0] * size)
            done += size
        return done

    def drain(batch_size: int):
        async def run() -> int:
            ran = 0
            # Each QueueManager run uses a connection of its own and closes it when it stops.
            pgq = PgQueuer(AsyncpgDriver(await asyncpg.connect(dsn=args.dsn)))

            @pgq.entrypoint(ENTRYPOINT)
            async def noop(job: Job) -> None:
                nonlocal ran
                ran += 1

            runner = asyncio.create_task(pgq.run(batch_size=batch_size, mode=QueueExecutionMode.drain))
            await asyncio.wait({runner}, timeout=args.drain_seconds)
            if not runner.done():
                # Setting shutdown stops the QueueManager after the jobs it has started.
                pgq.shutdown.set()
                pgq.qm.shutdown.set()
            await runner
            return ran

        return run

    await results.measure(
        "enqueue_single", jobs=args.single_jobs, runs=args.runs, prepare=empty, work=enqueue_single,
        settings="enqueue() per job",
    )  # fmt: skip
    await results.measure(
        "enqueue_bulk", jobs=args.jobs, runs=args.runs, prepare=empty, work=lambda: enqueue_bulk(args.jobs),
        settings=f"enqueue() of {args.bulk_size}",
    )  # fmt: skip
    await results.measure(
        "drain_default", jobs=args.jobs, runs=args.runs, prepare=fill, work=drain(DEFAULT_BATCH_SIZE),
        time_limited=True,
        settings=f"batch_size={DEFAULT_BATCH_SIZE} (default)",
    )  # fmt: skip
    await results.measure(
        "drain_tuned", jobs=args.jobs, runs=args.runs, prepare=fill, work=drain(TUNED_BATCH_SIZE),
        time_limited=True,
        settings=f"batch_size={TUNED_BATCH_SIZE}",
    )  # fmt: skip
    await connection.close()
    results.print()


if __name__ == "__main__":
    asyncio.run(main())
