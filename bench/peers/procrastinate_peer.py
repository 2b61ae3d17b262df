"""procrastinate: enqueue and drain no-op jobs, with its defaults and with worker concurrency.

A procrastinate worker fetches one job per query and runs one job at a
time by default (``concurrency=1``). Its guide to running several jobs at
once raises ``concurrency`` for asynchronous tasks, with 30 as its
example, which is what the tuned drain uses. Jobs are deferred one per
``defer_async`` call, or in bulk with ``batch_defer_async``. Finished
jobs stay in the table (``delete_jobs="never"``, the default), as the
queue under test keeps its finished jobs.

    python -m bench.peers.procrastinate_peer --dsn URI --jobs 20000 --single-jobs 5000
"""

from __future__ import annotations

import asyncio
import contextlib
from importlib.metadata import version

from procrastinate import App, PsycopgConnector

from bench.peers.common import Results, parse_args

DEFAULT_CONCURRENCY = 1
TUNED_CONCURRENCY = 30


async def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    results = Results("procrastinate", version("procrastinate"))
    app = App(connector=PsycopgConnector(conninfo=args.dsn))

    @app.task(name="noop")
    async def noop() -> None:
        return None

    async def count_jobs(status: str) -> int:
        rows = await app.connector.execute_query_all_async(
            "SELECT count(*) AS count FROM procrastinate_jobs WHERE status = %(status)s", status=status
        )
        return rows[0]["count"]

    async def empty() -> None:
        await app.connector.execute_query_async("TRUNCATE procrastinate_jobs CASCADE")

    async def fill() -> None:
        await empty()
        await enqueue_bulk()

    async def enqueue_single() -> int:
        for _ in range(args.single_jobs):
            await noop.defer_async()
        return await count_jobs("todo")

    async def enqueue_bulk() -> int:
        done = 0
        while done < args.jobs:
            size = min(args.bulk_size, args.jobs - done)
            await noop.batch_defer_async(*[{}] * size)
            done += size
        return await count_jobs("todo")

    def drain(concurrency: int):
        async def run() -> int:
            worker = asyncio.create_task(
                app.run_worker_async(wait=False, concurrency=concurrency, install_signal_handlers=False)
            )
            await asyncio.wait({worker}, timeout=args.drain_seconds)
            if not worker.done():
                # Cancelling the worker task stops it gracefully after its running jobs, as its docs describe.
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            return await count_jobs("succeeded")

        return run

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        await results.measure(
            "enqueue_single", jobs=args.single_jobs, runs=args.runs, prepare=empty, work=enqueue_single,
            settings="defer_async() per job",
        )  # fmt: skip
        await results.measure(
            "enqueue_bulk", jobs=args.jobs, runs=args.runs, prepare=empty, work=enqueue_bulk,
            settings=f"batch_defer_async() of {args.bulk_size}",
        )  # fmt: skip
        await results.measure(
            "drain_default", jobs=args.jobs, runs=args.runs, prepare=fill, work=drain(DEFAULT_CONCURRENCY),
            time_limited=True,
            settings=f"concurrency={DEFAULT_CONCURRENCY} (default)",
        )  # fmt: skip
        await results.measure(
            "drain_tuned", jobs=args.jobs, runs=args.runs, prepare=fill, work=drain(TUNED_CONCURRENCY),
            time_limited=True,
            settings=f"concurrency={TUNED_CONCURRENCY}",
        )  # fmt: skip
    results.print()


if __name__ == "__main__":
    asyncio.run(main())
