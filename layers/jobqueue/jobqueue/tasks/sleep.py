"""The ``sleep`` task: waits ``args.seconds`` (0 to 60), standing in for I/O-bound work.

Tests and benchmarks use it to see how the processor's worker threads
overlap jobs that wait on the network.
"""

from __future__ import annotations

import math
import time
from typing import Any

from jobqueue.errors import PermanentError, RetryableError
from jobqueue.outcomes import JobContext

NAME = "sleep"
MAX_SLEEP_SECONDS = 60


def run(args: dict[str, Any], ctx: JobContext) -> dict[str, float]:
    seconds = args.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise PermanentError(f"args.seconds must be a number from 0 to {MAX_SLEEP_SECONDS}, got {seconds!r}")
    if not 0 <= seconds <= MAX_SLEEP_SECONDS:
        raise PermanentError(f"args.seconds is {seconds!r}, out of range; use 0 to {MAX_SLEEP_SECONDS}")

    # Sleeping past the invocation's timeout would leave the job PROCESSING
    # until its lease expires; a later invocation with time left retries it.
    remaining = ctx.remaining_seconds()
    if seconds >= remaining:
        raise RetryableError(f"sleeping {seconds:g} s needs more than the {remaining:.1f} s left in this invocation")

    time.sleep(seconds)
    return {"sleptSeconds": seconds}
