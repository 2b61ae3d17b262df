import math
import random

import pytest

from jobqueue.backoff import retry_delay_seconds


@pytest.mark.parametrize(("attempt", "expected"), [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0)])
def test_backoff_doubles_from_base(attempt, expected):
    assert retry_delay_seconds(attempt, base_seconds=5, max_seconds=3600) == expected


def test_backoff_capped():
    assert retry_delay_seconds(20, base_seconds=5, max_seconds=3600) == 3600


@pytest.mark.parametrize("attempt", [100, 1025, 10**9])
def test_backoff_huge_attempt_no_overflow(attempt):
    assert retry_delay_seconds(attempt, base_seconds=5, max_seconds=60) == 60


@pytest.mark.parametrize(
    ("base", "cap", "attempt"),
    [(0, 60, 3), (-5, 60, 2), (5, -1, 2), (float("nan"), 60, 2), (5, float("inf"), 2000), (5, 60, 0), (5, 60, -3)],
)
def test_backoff_bad_settings_clamped(base, cap, attempt):
    delay = retry_delay_seconds(attempt, base_seconds=base, max_seconds=cap)
    assert math.isfinite(delay)
    assert delay >= 0


def test_backoff_zero_base_is_zero():
    assert retry_delay_seconds(7, base_seconds=0, max_seconds=60) == 0


def test_backoff_jitter_within_bounds_and_spread():
    rng = random.Random(42)
    delays = [retry_delay_seconds(3, base_seconds=5, max_seconds=3600, jitter=0.5, rng=rng) for _ in range(500)]
    assert min(delays) >= 10.0
    assert max(delays) <= 20.0
    assert len({round(d, 3) for d in delays}) > 100


@pytest.mark.parametrize("jitter", [-1.0, 2.0, float("nan")])
def test_backoff_jitter_out_of_range_clamped(jitter):
    delay = retry_delay_seconds(2, base_seconds=5, max_seconds=3600, jitter=jitter, rng=random.Random(1))
    assert 0 <= delay <= 10
