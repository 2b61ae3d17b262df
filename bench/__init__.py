"""Benchmarks of the job queue, run by ``make bench`` (dev-only, never deployed).

``python -m bench`` measures drain, enqueue, claim, statistics, cleanup
and cold-start figures, runs pgqueuer, procrastinate and pgbench on the
same server for comparison, prints a table and writes the figures as
JSON under ``bench-results/``. Nothing here asserts a time: each target
is printed as PASS or MISS. ``docs/performance.md`` explains the figures.
"""
