"""The registry of named tasks that SCHEDULED_TASK jobs run.

Every module in this package that defines ``NAME: str`` and
``run(args: dict, ctx: JobContext) -> Any`` is a task: to add one, drop a
module into ``jobqueue/tasks/`` in the layer. ``run`` gets the job's
``args`` object and its ``JobContext`` (write through ``ctx.conn``, never
commit). Its return value, which must be JSON-ready, becomes the job's
result. It may also return an outcome (``RetryAfter``, ``Cancel`` ...)
to decide the job's status itself, and it may raise ``PermanentError``
or ``RetryableError`` as a handler does.

Modules are imported on the first lookup. A module that defines neither
``NAME`` nor ``run`` is a helper and is skipped. A module that fails to
import, or defines only one of the two, is reported in the error of any
lookup that does not find its task.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobqueue.errors import PermanentError
from jobqueue.outcomes import JobContext

TaskFunction = Callable[[dict[str, Any], JobContext], Any]


@dataclass(frozen=True)
class Task:
    """A task found by discovery: its name, the module defining it and its ``run`` function."""

    name: str
    module: str
    run: TaskFunction


@dataclass
class Discovery:
    """The result of scanning a tasks package: usable tasks and the modules that are not."""

    tasks: dict[str, Task] = field(default_factory=dict)
    # Module name -> why it is not a usable task module.
    broken: dict[str, str] = field(default_factory=dict)
    # Task name -> every module that defines it.
    duplicates: dict[str, list[str]] = field(default_factory=dict)


class UnknownTask(PermanentError):
    """No task module defines the requested name, which retrying cannot fix."""

    def __init__(self, name: str, discovery: Discovery) -> None:
        known = ", ".join(sorted(discovery.tasks)) or "none"
        message = f"task {name!r} is not registered; registered tasks: {known}"
        if name in discovery.duplicates:
            modules = " and ".join(discovery.duplicates[name])
            message = f"task {name!r} is defined by both {modules}; give each module its own NAME"
        elif discovery.broken:
            problems = "; ".join(f"{module}: {reason}" for module, reason in sorted(discovery.broken.items()))
            message += f". Modules that could not be loaded as tasks: {problems}"
        super().__init__(message)
        self.name = name


def discover_tasks(package: str = __name__) -> Discovery:
    """Import every module of ``package`` and collect the tasks they define."""
    found = Discovery()
    package_module = importlib.import_module(package)
    for info in pkgutil.iter_modules(package_module.__path__, prefix=f"{package}."):
        try:
            module = importlib.import_module(info.name)
        except Exception as exc:  # noqa: BLE001 - one broken module must not hide the other tasks
            found.broken[info.name] = f"import failed: {type(exc).__name__}: {exc}"
            continue

        name = getattr(module, "NAME", None)
        run = getattr(module, "run", None)
        if name is None and run is None:
            continue
        if not isinstance(name, str) or not name.strip():
            found.broken[info.name] = f"NAME must be a non-empty string, got {name!r}"
            continue
        if not callable(run):
            found.broken[info.name] = "defines NAME but no run(args, ctx) function"
            continue

        if name in found.duplicates:
            found.duplicates[name].append(info.name)
        elif name in found.tasks:
            found.duplicates[name] = [found.tasks.pop(name).module, info.name]
        else:
            found.tasks[name] = Task(name=name, module=info.name, run=run)
    return found


_discovery: Discovery | None = None
# Worker threads look tasks up concurrently, and the lock makes discovery run once per process.
_lock = threading.Lock()


def _registry() -> Discovery:
    global _discovery
    with _lock:
        if _discovery is None:
            _discovery = discover_tasks()
        return _discovery


def get_task(name: str) -> Task:
    """Return the task named ``name``; raise ``UnknownTask`` listing the registered ones."""
    discovery = _registry()
    task = discovery.tasks.get(name)
    if task is None:
        raise UnknownTask(name, discovery)
    return task


def task_names() -> list[str]:
    """Return the names of the registered tasks, sorted."""
    return sorted(_registry().tasks)


def reset_tasks() -> None:
    """Forget the discovered tasks, so the next lookup scans the package again."""
    global _discovery
    with _lock:
        _discovery = None
