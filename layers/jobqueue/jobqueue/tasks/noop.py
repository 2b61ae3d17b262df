"""The ``noop`` task: does nothing, to measure the queue's own overhead."""

from __future__ import annotations

from typing import Any

from jobqueue.outcomes import JobContext

NAME = "noop"


def run(args: dict[str, Any], ctx: JobContext) -> None:
    return None
