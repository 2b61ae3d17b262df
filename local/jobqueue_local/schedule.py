"""The template's EventBridge schedules, fired locally on a timer.

Each ``Type: Schedule`` event with a ``rate(...)`` expression gets a timer
thread. A tick sends the function what EventBridge would send: the event's
``Input`` when it has one, otherwise a "Scheduled Event". The function runs
in a child process (``python -m jobqueue_local invoke``), because an
invocation in this process would hold the runner's lock for the whole run
and stall the API, and because Lambda runs each function in its own
execution environment too. ``cron(...)`` schedules are listed but not run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import TemplateError
from .intrinsics import ACCOUNT_ID, STACK_NAME, IntrinsicResolver
from .template import FUNCTION_TYPE, load_template, resolve_function

logger = logging.getLogger(__name__)

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# Time a child process gets past the function's Timeout before it is killed.
CHILD_GRACE_SECONDS = 30
# On shutdown, a run in progress gets this long to finish before it is terminated.
STOP_WAIT_SECONDS = 5
_LOCAL_PACKAGE_FOLDER = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Schedule:
    """One Schedule event of a function."""

    function_id: str
    event_name: str
    expression: str
    # The event's Input (JSON text), which EventBridge sends instead of a Scheduled Event.
    input: str | None

    @property
    def rate_seconds(self) -> int | None:
        """Return the interval of a rate() expression, or None for a cron() one."""
        return parse_rate(self.expression)


def parse_rate(expression: str) -> int | None:
    """Return the seconds between runs of ``rate(N unit)``, or None for ``cron(...)``.

    Raises ``TemplateError`` for anything else, and for a unit EventBridge
    rejects: the singular unit goes with 1 only, the plural with more.
    """
    text = expression.strip()
    if text.startswith("cron("):
        return None
    match = _RATE.match(text)
    if match is None:
        raise TemplateError(
            f"schedule expression {expression!r} is neither rate(N minutes|hours|days) nor cron(...)"
        )
    value, unit = int(match.group(1)), match.group(2)
    if value == 0:
        raise TemplateError(f"schedule expression {expression!r} needs a rate of at least 1")
    if (value == 1) != (not unit.endswith("s")):
        expected = unit.rstrip("s") if value == 1 else unit.rstrip("s") + "s"
        raise TemplateError(f"schedule expression {expression!r} must say {expected}, as EventBridge requires")
    return value * _UNIT_SECONDS[unit.rstrip("s")]


def load_schedules(template_path: Path | str, parameter_overrides: Mapping[str, str] | None = None) -> list[Schedule]:
    """Return the enabled Schedule events of every function, expressions resolved."""
    template = load_template(template_path)
    resolver = IntrinsicResolver(template, parameter_overrides)
    schedules = []
    for function_id, resource in sorted(template["Resources"].items()):
        if not isinstance(resource, dict) or resource.get("Type") != FUNCTION_TYPE:
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in sorted(events.items()):
            if not isinstance(event, dict) or event.get("Type") != "Schedule":
                continue
            properties = resolver.resolve(event.get("Properties") or {})
            if properties.get("Enabled") is False or properties.get("State") == "DISABLED":
                continue
            expression = properties.get("Schedule")
            if not isinstance(expression, str):
                raise TemplateError(f"{function_id} event {event_name}: Schedule {expression!r} is not an expression")
            schedules.append(Schedule(function_id, event_name, expression, properties.get("Input")))
    return schedules


def scheduled_event(schedule: Schedule, region: str) -> Any:
    """Return what EventBridge sends for one tick of ``schedule``."""
    if schedule.input is not None:
        return json.loads(schedule.input)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{STACK_NAME}-{schedule.event_name}"],
        "detail": {},
    }


@dataclass(frozen=True)
class ChildInvoker:
    """Runs one invocation of a template function in a child ``python -m jobqueue_local invoke``."""

    template_path: Path
    environment: Mapping[str, str]
    env_vars_file: Path | None = None
    parameter_overrides: Mapping[str, str] | None = None

    def command(self, function_id: str) -> list[str]:
        command = [sys.executable, "-m", "jobqueue_local", "invoke", function_id, "--event", "-"]
        command += ["--template", str(self.template_path)]
        if self.env_vars_file is not None:
            command += ["--env-vars", str(self.env_vars_file)]
        if self.parameter_overrides:
            command += ["--parameter-overrides", *(f"{name}={value}" for name, value in self.parameter_overrides.items())]
        return command

    def child_environment(self) -> dict[str, str]:
        environment = dict(self.environment)
        # The child imports jobqueue_local from the same folder as this process.
        paths = [str(_LOCAL_PACKAGE_FOLDER), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
        environment["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        return environment

    def timeout_seconds(self, function_id: str) -> int:
        config = resolve_function(
            self.template_path, function_id, parameter_overrides=self.parameter_overrides, shell_env=self.environment
        )
        return config.timeout_seconds + CHILD_GRACE_SECONDS


class ScheduleTimer:
    """Fires one schedule every ``interval_seconds``, one run at a time, until ``stop``.

    The first run comes one interval after ``start``, as with a new
    EventBridge rule. A run that lasts longer than the interval makes the
    timer skip the ticks it overlapped, where EventBridge would start
    concurrent invocations.
    """

    def __init__(self, schedule: Schedule, interval_seconds: float, invoker: ChildInvoker, region: str) -> None:
        self.schedule = schedule
        self.interval_seconds = interval_seconds
        self.invoker = invoker
        self.region = region
        self.runs = 0
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._child_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._loop, name=f"schedule-{schedule.function_id}-{schedule.event_name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the timer; a run in progress gets a few seconds to finish, then is terminated."""
        self._stopping.set()
        with self._child_lock:
            child = self._child
        if child is not None:
            try:
                child.wait(timeout=STOP_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "terminating the running %s invocation; jobs it claimed return to PENDING when their leases expire",
                    self.schedule.function_id,
                )
                child.terminate()
        self._thread.join(timeout=STOP_WAIT_SECONDS + 5)

    def _loop(self) -> None:
        next_run = time.monotonic() + self.interval_seconds
        while not self._stopping.wait(max(0.0, next_run - time.monotonic())):
            self.run_once()
            next_run += self.interval_seconds
            now = time.monotonic()
            if next_run < now:
                skipped = int((now - next_run) // self.interval_seconds) + 1
                logger.warning(
                    "%s %s: the run took longer than the %g s interval, so %d tick(s) were skipped",
                    self.schedule.function_id,
                    self.schedule.event_name,
                    self.interval_seconds,
                    skipped,
                )
                next_run += skipped * self.interval_seconds

    def run_once(self) -> int | None:
        """Invoke the function once with the schedule's event; return the child's exit status (None if not run)."""
        function_id = self.schedule.function_id
        event = json.dumps(scheduled_event(self.schedule, self.region)).encode()
        started = time.monotonic()
        try:
            timeout = self.invoker.timeout_seconds(function_id)
            with self._child_lock:
                if self._stopping.is_set():
                    return None
                # A session of its own keeps the terminal's Ctrl-C away from the child, so stop() decides its end.
                self._child = subprocess.Popen(
                    self.invoker.command(function_id),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=self.invoker.child_environment(),
                    start_new_session=True,
                )
            output, _ = self._child.communicate(event, timeout=timeout)
            status = self._child.returncode
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.communicate()
            logger.error("%s ran past its Timeout plus %d s and was killed", function_id, CHILD_GRACE_SECONDS)
            return None
        except (OSError, TemplateError) as exc:
            logger.error("%s could not be started: %s", function_id, exc)
            return None
        finally:
            with self._child_lock:
                self._child = None

        self.runs += 1
        elapsed = time.monotonic() - started
        result = output.decode("utf-8", "replace").strip()
        if status == 0:
            logger.info("%s (%s) ran in %.1f s: %s", function_id, self.schedule.event_name, elapsed, result)
        else:
            logger.error(
                "%s (%s) failed with exit status %d after %.1f s: %s",
                function_id,
                self.schedule.event_name,
                status,
                elapsed,
                result or "see its log above",
            )
        return status

