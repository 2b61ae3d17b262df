"""Comparison figures: pgqueuer, procrastinate and pgbench on the same server.

Each peer runs its script from ``bench/peers/`` in a database of its own.
pgbench runs a one-row UPDATE per transaction with a few clients, which
gives the commit rate the server sustains when every change commits on
its own: a queue that commits once per job cannot drain faster.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

import psycopg

from bench.child import CHILD_PYTHONPATH, STDERR_TAIL_CHARACTERS
from bench.report import Figure
from bench.server import PROJECT_ROOT, BenchError, Server, checkpoint
from bench.settings import BenchSettings

PEERS = ("pgqueuer", "procrastinate")
PGBENCH_SCRIPT = PROJECT_ROOT / "bench" / "pgbench" / "update_one_row.sql"
PGBENCH_ROWS = 10_000
TPS_PATTERN = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
MEASUREMENT_NAMES = {
    "enqueue_single": "enqueue, 1 job per call",
    "enqueue_bulk": "enqueue, bulk",
    "drain_default": "drain no-op, default settings",
    "drain_tuned": "drain no-op, tuned",
}


def peer_figures(server: Server, settings: BenchSettings) -> tuple[list[Figure], dict[str, str]]:
    """Run every peer; return its figures and the peers' versions."""
    figures = []
    versions = {}
    for peer in PEERS:
        output = _run_peer(server, settings, peer)
        versions[peer] = output["version"]
        for key, measurement in output["measurements"].items():
            figures.append(_peer_figure(peer, key, measurement, settings))
    return figures, versions


def _run_peer(server: Server, settings: BenchSettings, peer: str) -> dict:
    url = server.create_database(peer)
    command = [
        sys.executable, "-m", f"bench.peers.{peer}_peer",
        "--dsn", url,
        "--jobs", str(settings.peer_jobs),
        "--single-jobs", str(settings.single_enqueue_jobs),
        "--bulk-size", str(settings.bulk_size),
        "--runs", str(settings.runs),
        "--drain-seconds", str(settings.peer_drain_seconds),
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:
        completed = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": CHILD_PYTHONPATH},
            check=False,
        )
        if completed.returncode != 0:
            stderr.seek(0)
            tail = stderr.read()[-STDERR_TAIL_CHARACTERS:]
            raise BenchError(f"the {peer} benchmark exited with status {completed.returncode}:\n{tail}")
    server.drop_database(url)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _peer_figure(peer: str, key: str, measurement: dict, settings: BenchSettings) -> Figure:
    jobs = measurement["jobs"]
    rates = [done / seconds for done, seconds in zip(measurement["finished"], measurement["seconds"])]
    description = f"{jobs:,} jobs, {measurement['settings']}"
    stopped = sum(done < jobs for done in measurement["finished"])
    if stopped:
        finished = statistics.median(measurement["finished"])
        runs = len(measurement["finished"])
        description += (
            f"; {stopped} of {runs} runs stopped at {settings.peer_drain_seconds:g} s, median {finished:,.0f} done"
        )
    return Figure(
        key=f"{peer}_{key}",
        name=f"{peer}: {MEASUREMENT_NAMES[key]}",
        unit="jobs/s",
        settings=description,
        samples=rates,
        details=measurement,
    )


def pgbench_figure(server: Server, settings: BenchSettings) -> Figure:
    """Run pgbench with the one-row UPDATE script; the figure is its transactions per second."""
    clients = settings.pgbench_clients
    threads = min(clients, os.cpu_count() or 1)
    figure = Figure(
        key="pgbench_one_row_update",
        name="pgbench: 1 row UPDATE per commit",
        unit="tps",
        settings=f"{clients} clients, {threads} threads, {settings.pgbench_seconds} s per run",
    )
    pgbench = server.pgbench_path()
    if pgbench is None:
        figure.skipped = "no pgbench found; install postgresql-contrib or set PGBENCH to its path"
        return figure

    url = server.create_database("pgbench")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id integer PRIMARY KEY, v bigint NOT NULL DEFAULT 0)")
        conn.execute("INSERT INTO t (id) SELECT generate_series(1, %s)", (PGBENCH_ROWS,))
        conn.execute("VACUUM ANALYZE t")
    command = [
        pgbench, "--no-vacuum",
        "--file", str(PGBENCH_SCRIPT),
        "--client", str(clients),
        "--jobs", str(threads),
        "--time", str(settings.pgbench_seconds),
        url,
    ]  # fmt: skip
    for _ in range(settings.runs):
        checkpoint(url)
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        match = TPS_PATTERN.search(completed.stdout)
        if completed.returncode != 0 or match is None:
            raise BenchError(f"pgbench failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
        figure.samples.append(float(match.group(1)))
    figure.details["pgbench"] = pgbench
    server.drop_database(url)
    return figure
