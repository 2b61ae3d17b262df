"""Retrying a transaction that lost a serialization race."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg.errors

from jobqueue.logs import logger

T = TypeVar("T")

SERIALIZATION_RETRIES = 5


def retry_serialization_failures(run: Callable[[], T], *, attempts: int = SERIALIZATION_RETRIES) -> T:
    """Call ``run`` (one whole transaction) again when it hits a serialization failure or deadlock.

    The queue's own transactions run at READ COMMITTED, where these are
    rare. A database whose default is REPEATABLE READ or SERIALIZABLE, or
    a deadlock with the application's own writes, can still raise them.
    After ``attempts`` tries the last error is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            return run()
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            if attempt == attempts:
                raise
            logger.info("retrying a transaction after %s (try %d of %d)", type(exc).__name__, attempt, attempts)
            time.sleep(random.uniform(0.005, 0.02) * attempt)
    raise AssertionError("unreachable")
