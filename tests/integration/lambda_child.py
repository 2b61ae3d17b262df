"""Run one invocation of a Lambda entry point in this OS process, for tests that spawn, race and kill processors.

Usage: ``python tests/integration/lambda_child.py SPEC.json``. The spec is a
JSON object:

- ``function``: ``processor`` or ``api``, the entry point under ``functions/``;
- ``event``: the event to pass;
- ``env``: environment variables to set before the entry point is imported;
- ``timeout_seconds``: the function timeout the Lambda context counts down from;
- ``request_id``: the context's request id (Lambda reuses one when it retries an event);
- ``result``: where to write the outcome as JSON;
- ``ready`` and ``gate`` (optional): after the imports, create the file
  ``ready``, then wait until the file ``gate`` exists, so a test can start
  several processes at the same moment.

The outcome file contains ``{"ok": true, "result": ...}`` or ``{"ok": false,
"error_type": ..., "error": ...}``, plus ``max_rss_kb``, this process's peak
resident memory. The entry point's JSON log lines go to standard output.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Test-only SCHEDULED_TASK tasks, added to the layer's task package at run time.
TEST_TASKS = Path(__file__).resolve().parent / "tasks"
GATE_TIMEOUT_SECONDS = 120


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    os.environ.update(spec.get("env") or {})
    for folder in (ROOT / "local", ROOT / "layers" / "jobqueue"):
        sys.path.insert(0, str(folder))

    import jobqueue.tasks
    from jobqueue_local.context import LambdaContext

    jobqueue.tasks.__path__.append(str(TEST_TASKS))
    handler = _load_handler(spec["function"])
    context = LambdaContext(
        function_name=f"jobqueue-{spec['function']}",
        memory_mb=1024,
        timeout_seconds=spec.get("timeout_seconds", 60),
        region="us-east-1",
        log_stream_name="2030/01/01/[$LATEST]test",
    )
    if spec.get("request_id"):
        context.aws_request_id = spec["request_id"]

    _wait_for_gate(spec)
    outcome: dict = {"pid": os.getpid()}
    try:
        outcome.update(ok=True, result=handler(spec["event"], context))
    except BaseException as exc:  # noqa: BLE001 - the test reads the error from the outcome file
        outcome.update(ok=False, error_type=type(exc).__name__, error=str(exc), traceback=traceback.format_exc())
    outcome["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(spec["result"]).write_text(json.dumps(outcome, default=str), encoding="utf-8")
    sys.stdout.flush()
    # Worker threads stuck in a handler must not keep the process alive after the outcome is written.
    os._exit(0 if outcome["ok"] else 1)


def _load_handler(function: str):
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"_lambda_child_{function}_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def _wait_for_gate(spec: dict) -> None:
    if spec.get("ready"):
        Path(spec["ready"]).touch()
    if not spec.get("gate"):
        return
    deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
    gate = Path(spec["gate"])
    while not gate.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"the gate file {gate} never appeared")
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
