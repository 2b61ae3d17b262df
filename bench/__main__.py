"""Run the benchmarks: ``python -m bench`` (``make bench``, or ``make bench-quick`` for a smoke run).

Environment:

- ``BENCH_QUICK=1``: small counts, about two minutes; the figures only
  check the harness.
- ``BENCH_RUNS=N``: runs per figure (default 3, at least 3).
- ``BENCH_ONLY=drain,peers``: run only these groups of figures
  (coldstart, drain, enqueue, peers, history).
- ``BENCH_DATABASE_URL``, else ``TEST_DATABASE_URL`` or ``DATABASE_URL``:
  the PostgreSQL server; without one, an embedded server in
  ``.local/bench-pgdata``.
- ``PGBENCH``: the pgbench binary, when neither the embedded server's nor
  one on PATH should be used.

The table goes to stdout, progress to stderr, and the whole record to
``bench-results/<UTC time>.json``. Exits 1 when a group of figures failed.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version

import psycopg

from bench.coldstart import coldstart_figures
from bench.comparison import peer_figures, pgbench_figure
from bench.drain import drain_figures
from bench.enqueue import enqueue_figures
from bench.history import history_figures
from bench.report import Figure, format_table, write_json
from bench.server import PROJECT_ROOT, BenchError, Server, open_server, redact
from bench.settings import BenchSettings, SettingsError, settings_from_env
from bench.targets import build_rows
from jobqueue.logs import logger as library_logger

RESULTS = PROJECT_ROOT / "bench-results"
# Groups run in this order: cold start first, on an idle server; the
# 5-million-row history last, so its load and checkpoints disturb nothing.
GROUP_ORDER = ("coldstart", "drain", "enqueue", "peers", "history")


def main() -> int:
    try:
        settings = settings_from_env()
    except SettingsError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2

    # The harness calls the library itself (migrations, claims, cleanup),
    # whose INFO lines would land in the table; the functions log in their
    # own processes.
    library_logger.setLevel("WARNING")
    started = datetime.now(UTC)
    clock = time.monotonic()
    load_before = os.getloadavg()
    try:
        server = open_server()
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1

    figures: list[Figure] = []
    failures: dict[str, str] = {}
    peers: dict[str, str] = {}
    try:
        postgres = server.describe()
        _progress(f"server: {redact(server.admin_url)} ({postgres['server_version']}, from {server.source})")
        groups = _groups(settings, peers)
        for name in GROUP_ORDER:
            if name not in settings.groups:
                continue
            group_clock = time.monotonic()
            _progress(f"[{name}] running")
            try:
                figures.extend(groups[name](server))
            except (BenchError, psycopg.Error) as exc:
                failures[name] = str(exc)
                _progress(f"[{name}] FAILED: {exc}")
                continue
            _progress(f"[{name}] done in {time.monotonic() - group_clock:.0f} s")
    finally:
        server.close()

    seconds = time.monotonic() - clock
    rows = build_rows(figures)
    run = {
        "started_at": started.isoformat(timespec="seconds"),
        "duration_seconds": round(seconds, 1),
        "quick": settings.quick,
        "settings": asdict(settings),
        "machine": _machine(load_before),
        "postgres": postgres,
        "software": _software(peers),
        "failures": failures,
    }
    suffix = "-quick" if settings.quick else ""
    path = RESULTS / f"{started.strftime('%Y-%m-%dT%H-%M-%SZ')}{suffix}.json"
    write_json(path, run, rows, figures)

    print(_header(run))
    print(format_table(rows))
    print(f"\n{len(figures)} figures in {seconds / 60:.1f} min; JSON: {path.relative_to(PROJECT_ROOT)}")
    for name, error in failures.items():
        print(f"group {name} failed: {error}")
    return 1 if failures else 0


def _groups(settings: BenchSettings, peers: dict[str, str]) -> dict[str, Callable[[Server], list[Figure]]]:
    def comparison(server: Server) -> list[Figure]:
        figures, versions = peer_figures(server, settings)
        peers.update(versions)
        return [*figures, pgbench_figure(server, settings)]

    return {
        "coldstart": lambda server: coldstart_figures(server, settings),
        "drain": lambda server: drain_figures(server, settings),
        "enqueue": lambda server: enqueue_figures(server, settings),
        "peers": comparison,
        "history": lambda server: history_figures(server, settings),
    }


def _progress(message: str) -> None:
    print(f"{datetime.now().strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _machine(load_before: tuple[float, float, float]) -> dict:
    cpu_model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            cpu_model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:
        pass
    memory_kib = 0
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            memory_kib = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:")), 0)
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "cpu_model": cpu_model or platform.processor(),
        "kernel": platform.release(),
        # Other processes' load makes figures noisy; it is recorded so a reader can tell.
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def _software(peers: dict[str, str]) -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, cwd=PROJECT_ROOT
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", ""
    return {
        "python": platform.python_version(),
        "git_commit": commit + ("+changes" if dirty.strip() else ""),
        "psycopg": version("psycopg"),
        "aws-lambda-powertools": version("aws-lambda-powertools"),
        "pydantic": version("pydantic"),
        "peers": peers,
    }


def _header(run: dict) -> str:
    machine = run["machine"]
    postgres = run["postgres"]
    settings = ", ".join(f"{name}={value}" for name, value in postgres["settings"].items())
    load = " / ".join(f"{value:.1f}" for value in machine["load_average_before"])
    kind = "QUICK smoke run (small counts, figures not comparable)" if run["quick"] else "full run"
    return (
        f"jobqueue benchmarks, {kind}, started {run['started_at']}, commit {run['software']['git_commit']}\n"
        f"machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB, "
        f"load average at start {load}\n"
        f"PostgreSQL {postgres['server_version']} ({postgres['source']}): {settings}\n"
        f"each figure is the median of {run['settings']['runs']} runs unless its settings say otherwise\n"
    )


if __name__ == "__main__":
    sys.exit(main())
