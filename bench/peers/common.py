"""The command line, timing and output that the peer scripts share."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dsn", required=True, help="postgresql:// URI of an empty database")
    parser.add_argument("--jobs", type=int, required=True, help="jobs per drain and per bulk enqueue")
    parser.add_argument("--single-jobs", type=int, required=True, help="jobs enqueued one per call")
    parser.add_argument("--bulk-size", type=int, default=500, help="jobs per bulk enqueue call")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement")
    parser.add_argument(
        "--drain-seconds", type=float, default=20.0, help="stop a drain after this long and count what it finished"
    )
    args = parser.parse_args()
    # The peers log through the standard logging module; keep only problems.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return args


@dataclass
class Results:
    peer: str
    version: str
    measurements: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def measure(
        self,
        name: str,
        *,
        jobs: int,
        settings: str,
        runs: int,
        prepare: Callable[[], Awaitable[None]],
        work: Callable[[], Awaitable[int]],
        time_limited: bool = False,
    ) -> None:
        """Run ``prepare`` (untimed) then ``work`` (timed) ``runs`` times.

        ``work`` returns how many jobs it enqueued or ran. Anything but
        ``jobs`` raises, so a figure never rests on a partial run, unless
        the work is ``time_limited``: then the rate is the jobs finished
        divided by the time taken.
        """
        seconds = []
        finished = []
        for _ in range(runs):
            await prepare()
            clock = time.perf_counter()
            done = await work()
            seconds.append(time.perf_counter() - clock)
            finished.append(done)
            if done != jobs and not (time_limited and 0 < done < jobs):
                raise RuntimeError(f"{self.peer} {name}: handled {done} of {jobs} jobs")
        self.measurements[name] = {"jobs": jobs, "settings": settings, "seconds": seconds, "finished": finished}

    def print(self) -> None:
        print(json.dumps({"peer": self.peer, "version": self.version, "measurements": self.measurements}))
