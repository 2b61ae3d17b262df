"""Retry delays: exponential backoff with a cap and optional jitter."""

from __future__ import annotations

import math
import random


def retry_delay_seconds(
    attempt: int,
    *,
    base_seconds: float,
    max_seconds: float,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """Return the delay before retrying after failed attempt number ``attempt``.

    The delay is ``base_seconds * 2 ** (attempt - 1)`` capped at
    ``max_seconds``: 5 s, 10 s, 20 s with the defaults. ``jitter`` (0 to 1)
    spreads each delay uniformly over ``[delay * (1 - jitter), delay]``, so
    jobs that failed together do not all fall due at once. Bad inputs
    (attempt below 1, negative or non-finite settings) are clamped, never
    raised: a retry must always get a delay.
    """
    base = _finite_non_negative(base_seconds)
    cap = _finite_non_negative(max_seconds)
    spread = min(max(_finite_non_negative(jitter), 0.0), 1.0)
    exponent = max(int(attempt), 1) - 1

    # 2 ** exponent overflows a float past about 1024; any exponent that
    # large is far beyond every cap, so stop doubling once the cap is hit.
    if base == 0.0:
        delay = 0.0
    elif exponent >= 64 or base * 2.0**exponent >= cap:
        delay = cap
    else:
        delay = base * 2.0**exponent

    if spread and delay:
        delay -= delay * spread * (rng or random).random()
    return delay


def _finite_non_negative(value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(number) or number < 0:
        return 0.0
    return min(number, 1e9)
