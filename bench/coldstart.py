"""Cold-start figures: each function's import in a fresh interpreter, and the processor's first invocation.

Two layouts of the code are measured:

- ``bytecode cached``: the repository's function folder and
  ``layers/jobqueue`` with the bench virtualenv's packages, whose ``.pyc``
  files pip wrote at install time. A first, unmeasured run writes the
  ``.pyc`` files of the queue's own modules.
- ``as deployed``: a copy of the layer as ``sam build`` makes it, with pip
  ``--no-compile`` and so without a single ``.pyc``, run with ``-B`` and
  without site-packages. Lambda's ``/opt`` is read-only, so a function
  from this layer compiles every module from source on every cold start.
  ``make bench`` installs the layer's requirements into
  ``.venv-bench/lambda-layer`` for this (x86-64 wheels, where Lambda runs
  arm64 ones).

Each sample is a new interpreter running ``bench/coldstart_probe.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.report import Figure
from bench.server import PROJECT_ROOT, BenchError, Server
from bench.settings import BenchSettings
from jobqueue.migrations import migrate
from jobqueue_local.template import resolve_function

PROBE = PROJECT_ROOT / "bench" / "coldstart_probe.py"
TEMPLATE = PROJECT_ROOT / "template.yaml"
LAYER = PROJECT_ROOT / "layers" / "jobqueue"
# `make bench` installs the layer's requirements here with pip --no-compile.
DEPLOYED_PACKAGES = Path(sys.prefix) / "lambda-layer"
FUNCTIONS = {"processor": "ProcessorFunction", "api": "ApiFunction"}
IMPORTTIME_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)$")


def coldstart_figures(server: Server, settings: BenchSettings) -> list[Figure]:
    url = server.create_database("coldstart")
    migrate(url)
    figures = []
    with tempfile.TemporaryDirectory(prefix="jqbench-") as scratch:
        layouts = [
            ("cached", "bytecode cached", _cached_layout()),
            ("deployed", "as deployed, no .pyc", _deployed_layout(Path(scratch))),
        ]
        for function, function_id in FUNCTIONS.items():
            env = _function_env(function_id, url)
            for key, description, layout in layouts:
                figures.extend(_measure(settings, function, key, description, layout, env))
    server.drop_database(url)
    return figures


def _cached_layout() -> dict:
    return {
        "flags": ["-I"],
        "code": {name: PROJECT_ROOT / "functions" / name for name in FUNCTIONS},
        "layer": [LAYER],
    }


def _deployed_layout(scratch: Path) -> dict | None:
    if not DEPLOYED_PACKAGES.is_dir():
        return None
    shutil.copytree(LAYER / "jobqueue", scratch / "python" / "jobqueue", ignore=shutil.ignore_patterns("__pycache__"))
    code = {}
    for name in FUNCTIONS:
        folder = scratch / "functions" / name
        folder.mkdir(parents=True)
        shutil.copy2(PROJECT_ROOT / "functions" / name / "app.py", folder / "app.py")
        code[name] = folder
    return {"flags": ["-I", "-S", "-B"], "code": code, "layer": [scratch / "python", DEPLOYED_PACKAGES]}


def _function_env(function_id: str, database_url: str) -> dict[str, str]:
    """Return the function's environment from the template, as Lambda would set it, with the benchmark's database."""
    config = resolve_function(TEMPLATE, function_id, shell_env={})
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env.update(config.environment)
    env.update(
        {
            "AWS_REGION": config.region,
            "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "DATABASE_URL": database_url,
            "DB_SECRET_ARN": "",
        }
    )
    return env


def _measure(
    settings: BenchSettings, function: str, key: str, description: str, layout: dict | None, env: dict
) -> list[Figure]:
    invoke = function == "processor"
    imported = Figure(
        key=f"import_{function}_{key}",
        name=f"import {function} ({description})",
        unit="ms",
        settings="",
    )
    first = Figure(
        key=f"first_invocation_{key}",
        name=f"processor 1st invocation ({description})",
        unit="ms",
        settings="empty queue, right after the import, connections included",
    )
    figures = [imported, first] if invoke else [imported]
    if layout is None:
        for figure in figures:
            figure.skipped = f"{DEPLOYED_PACKAGES} is missing; run make bench to install it"
        return figures

    command = [sys.executable, *layout["flags"], str(PROBE), "--code", str(layout["code"][function])]
    command += ["--layer", os.pathsep.join(str(path) for path in layout["layer"])]
    import_only = list(command)
    if invoke:
        command += ["--invoke", "--local", str(PROJECT_ROOT / "local")]

    _probe(command, env)  # unmeasured: writes .pyc files where allowed and warms the page cache
    results = [_probe(command, env) for _ in range(settings.import_samples)]
    imported.samples = [result["import_seconds"] * 1000 for result in results]
    packages = _import_breakdown(import_only, env)
    top = ", ".join(f"{name} {milliseconds:.0f}" for name, milliseconds in list(packages.items())[:3])
    imported.settings = f"{len(results)} fresh interpreters; ms by package: {top}"
    imported.details["self_ms_by_package"] = packages
    if invoke:
        first.samples = [result["first_invocation_seconds"] * 1000 for result in results]
        second = [result["second_invocation_seconds"] * 1000 for result in results]
        first.details["second_invocation_ms_median"] = statistics.median(second)
        first.settings += f"; next call {statistics.median(second):.0f} ms"
    return figures


def _probe(command: list[str], env: dict, extra_flags: tuple[str, ...] = ()) -> dict:
    completed = subprocess.run(
        [command[0], *extra_flags, *command[1:]], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, check=False
    )
    if completed.returncode != 0:
        raise BenchError(f"the cold-start probe failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    result = json.loads(completed.stdout)
    result["stderr"] = completed.stderr
    return result


def _import_breakdown(command: list[str], env: dict) -> dict[str, float]:
    """Return the import's own time in ms per top-level package, slowest first, from ``python -X importtime``."""
    stderr = _probe(command, env, ("-X", "importtime"))["stderr"]
    by_package: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        match = IMPORTTIME_LINE.match(line)
        if match:
            by_package[match.group(4).split(".")[0]] += int(match.group(1)) / 1000
    return dict(sorted(by_package.items(), key=lambda item: item[1], reverse=True))
