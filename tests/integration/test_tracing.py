"""X-Ray tracing of the processor function, with the X-Ray SDK sending to a local UDP socket.

Each test runs the function in a child Python process set up the way
Lambda sets one up: ``LAMBDA_TASK_ROOT``, a sampled trace header in
``_X_AMZN_TRACE_ID`` and ``AWS_XRAY_DAEMON_ADDRESS``. A child process
keeps the SDK's global state (enabled flag, patched modules, recorder
context) out of the other tests. The "daemon" is a UDP socket of this
test on 127.0.0.1, which receives one segment document per datagram.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from jobqueue.enqueue import NewJob, enqueue
from tests.conftest import ROOT

TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
FUNCTION_SEGMENT_ID = "53995c3f42cd8ad8"

# Loads the processor's entry point like the Lambda runtime does and
# invokes it once with the event given on stdin.
DRIVER = textwrap.dedent(
    """
    import json, sys
    from jobqueue_local.context import LambdaContext
    import app

    context = LambdaContext(
        function_name="ProcessorFunction", memory_mb=1024, timeout_seconds=900,
        region="us-east-1", log_stream_name="local",
    )
    result = app.lambda_handler(json.load(sys.stdin), context)
    print("RESULT " + json.dumps(result))
    print("XRAY_IMPORTED " + json.dumps("aws_xray_sdk.core" in sys.modules))
    """
)


@pytest.fixture
def daemon():
    """A UDP socket on 127.0.0.1 that plays the X-Ray daemon."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        yield sock


def received_documents(sock: socket.socket) -> list[dict]:
    """Return the segment documents received so far; each datagram is a JSON header line, then the document."""
    documents = []
    while True:
        try:
            data, _ = sock.recvfrom(65536)
        except TimeoutError:
            return documents
        header, _, body = data.decode("utf-8").partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def run_function(database: str, daemon_port: int, event: dict, **env: str) -> tuple[dict, bool]:
    """Invoke the processor in a child process; return its result and whether it imported the X-Ray SDK."""
    child_env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "functions" / "processor"), str(ROOT / "layers" / "jobqueue"), str(ROOT / "local")]
        ),
        "DATABASE_URL": database,
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "processor"),
        "AWS_LAMBDA_FUNCTION_NAME": "ProcessorFunction",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "jobqueue",
        "POWERTOOLS_METRICS_NAMESPACE": "JobQueue/test",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT};Parent={FUNCTION_SEGMENT_ID};Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon_port}",
        **env,
    }
    completed = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(event),
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in completed.stdout.splitlines() if " " in line}
    return json.loads(lines["RESULT"]), json.loads(lines["XRAY_IMPORTED"])


def subsegments_named(documents: list[dict], name: str) -> list[dict]:
    return [document for document in documents if document.get("name") == name]


def seed_jobs(conn) -> dict[str, str]:
    return {
        "noop": enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "noop"})).id,
        "unknown": enqueue(conn, NewJob("SCHEDULED_TASK", {"task": "no_such_task"})).id,
        "gone": enqueue(conn, NewJob("AUTO_UNSNOOZE", {"incidentId": "gone"})).id,
    }


def test_tracing_subsegment_per_job(database, conn, daemon):
    ids = seed_jobs(conn)

    result, imported = run_function(database, daemon.getsockname()[1], {"action": "process"})

    assert result["total"] == 3
    assert imported is True
    documents = received_documents(daemon)
    jobs = subsegments_named(documents, "## job SCHEDULED_TASK") + subsegments_named(documents, "## job AUTO_UNSNOOZE")
    by_id = {job["metadata"]["jobqueue"]["job_id"]: job for job in jobs}
    assert set(by_id) == set(ids.values())
    assert by_id[ids["noop"]]["annotations"] == {"job_type": "SCHEDULED_TASK", "outcome": "completed"}
    assert by_id[ids["unknown"]]["annotations"] == {"job_type": "SCHEDULED_TASK", "outcome": "failed"}
    assert by_id[ids["unknown"]]["fault"] is True
    assert by_id[ids["gone"]]["annotations"] == {"job_type": "AUTO_UNSNOOZE", "outcome": "cancelled"}


def test_tracing_job_subsegments_join_function_trace(database, conn, daemon):
    seed_jobs(conn)

    run_function(database, daemon.getsockname()[1], {"action": "process"})

    documents = received_documents(daemon)
    jobs = [document for document in documents if document.get("name", "").startswith("## job ")]
    assert len(jobs) == 3
    for job in jobs:
        # Worker threads have no segment of their own: the SDK's Lambda
        # context attaches their subsegments to the function's segment.
        assert job["trace_id"] == TRACE_ROOT
        assert job["parent_id"] == FUNCTION_SEGMENT_ID
        assert job["type"] == "subsegment"


def test_tracing_annotates_handler_subsegment(database, conn, daemon):
    seed_jobs(conn)

    run_function(database, daemon.getsockname()[1], {"action": "process"})

    (handler,) = subsegments_named(received_documents(daemon), "## lambda_handler")
    annotations = handler["annotations"]
    assert annotations["job_types"] == "AUTO_UNSNOOZE,SCHEDULED_TASK"
    assert annotations["jobs_total"] == 3
    assert annotations["jobs_failed"] == 1
    assert annotations["failed_types"] == "SCHEDULED_TASK"
    assert annotations["ColdStart"] is True
    assert annotations["Service"] == "jobqueue"


def test_tracing_disabled_skips_sdk(database, conn, daemon):
    seed_jobs(conn)

    result, imported = run_function(
        database, daemon.getsockname()[1], {"action": "process"}, POWERTOOLS_TRACE_DISABLED="true"
    )

    assert result["total"] == 3
    assert imported is False
    assert received_documents(daemon) == []


def test_tracing_unsampled_sends_nothing(database, conn, daemon):
    seed_jobs(conn)

    result, imported = run_function(
        database,
        daemon.getsockname()[1],
        {"action": "process"},
        _X_AMZN_TRACE_ID=f"Root={TRACE_ROOT};Parent={FUNCTION_SEGMENT_ID};Sampled=0",
    )

    assert result["total"] == 3
    assert imported is True
    assert received_documents(daemon) == []
