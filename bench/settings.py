"""How much work each figure does, for a full run and for a quick smoke run.

A full run (``make bench``) uses the counts the figures are defined with
and takes about 12 minutes on two cores. ``BENCH_QUICK=1`` (``make
bench-quick``) shrinks every count so that the whole run takes about two
minutes. That checks the harness but gives no figures worth recording.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

GROUPS = ("coldstart", "drain", "enqueue", "peers", "history")


@dataclass(frozen=True)
class BenchSettings:
    quick: bool
    # Each figure is the median of this many runs (at least 3).
    runs: int
    # Figure groups to run, from GROUPS.
    groups: tuple[str, ...]

    drain_jobs: int
    drain_processes: tuple[int, ...]
    io_jobs: int
    io_sleep_seconds: float
    # The processor's settings in the drain figures (the template's defaults).
    worker_threads: int
    batch_size: int

    # Jobs enqueued one per call. Each call costs milliseconds, so there are fewer than in bulk.
    single_enqueue_jobs: int
    bulk_enqueue_jobs: int
    bulk_size: int

    pending_jobs: int
    # Finished jobs in the table at each claim-latency step. The statistics
    # and cleanup figures run on the table of the last step.
    history_steps: tuple[int, ...]
    # Finished jobs are spread evenly over this many days before now.
    history_days: int
    # Each cleanup run deletes the jobs between two retentions: with 10 days of
    # history, retentions 9, 8 and 7 each delete one day's share.
    cleanup_retention_days: tuple[int, ...]
    claim_batch_size: int
    claim_samples: int
    stats_samples: int

    import_samples: int

    peer_jobs: int
    # A peer's drain stops after this long if the queue is not empty by then.
    peer_drain_seconds: float
    pgbench_seconds: int
    pgbench_clients: int


FULL = BenchSettings(
    quick=False,
    runs=3,
    groups=GROUPS,
    drain_jobs=20_000,
    drain_processes=(1, 2, 4),
    io_jobs=2_000,
    io_sleep_seconds=0.05,
    worker_threads=8,
    batch_size=50,
    single_enqueue_jobs=5_000,
    bulk_enqueue_jobs=20_000,
    bulk_size=500,
    pending_jobs=10_000,
    history_steps=(10_000, 1_000_000, 5_000_000),
    history_days=10,
    cleanup_retention_days=(9, 8, 7),
    claim_batch_size=50,
    claim_samples=25,
    stats_samples=5,
    import_samples=5,
    peer_jobs=20_000,
    peer_drain_seconds=20.0,
    pgbench_seconds=10,
    pgbench_clients=4,
)

QUICK = replace(
    FULL,
    quick=True,
    drain_jobs=2_000,
    io_jobs=200,
    single_enqueue_jobs=300,
    bulk_enqueue_jobs=2_000,
    pending_jobs=1_000,
    history_steps=(1_000, 20_000, 100_000),
    claim_samples=10,
    stats_samples=3,
    import_samples=3,
    peer_jobs=2_000,
    peer_drain_seconds=5.0,
    pgbench_seconds=3,
)


class SettingsError(ValueError):
    """A BENCH_* environment variable has an invalid value."""


def settings_from_env(env: dict[str, str] | None = None) -> BenchSettings:
    """Return the settings that BENCH_QUICK, BENCH_RUNS and BENCH_ONLY select.

    Raises ``SettingsError`` naming the variable when a value is invalid.
    """
    env = os.environ if env is None else env
    quick = env.get("BENCH_QUICK", "").strip().lower()
    if quick not in ("", "0", "1", "true", "false", "yes", "no"):
        raise SettingsError(f"BENCH_QUICK={quick!r} is invalid; use 1 or 0")
    settings = QUICK if quick in ("1", "true", "yes") else FULL

    runs = env.get("BENCH_RUNS", "").strip()
    if runs:
        if not runs.isdigit() or int(runs) < 3:
            raise SettingsError(f"BENCH_RUNS={runs!r} is invalid; use a whole number of at least 3")
        settings = replace(settings, runs=int(runs))

    only = env.get("BENCH_ONLY", "").strip()
    if only:
        groups = tuple(name.strip() for name in only.split(",") if name.strip())
        unknown = [name for name in groups if name not in GROUPS]
        if unknown or not groups:
            raise SettingsError(
                f"BENCH_ONLY={only!r} names unknown groups; use a comma-separated list of {', '.join(GROUPS)}"
            )
        settings = replace(settings, groups=groups)
    return settings
