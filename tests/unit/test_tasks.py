"""The task registry's discovery rules and the built-in tasks."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

from jobqueue import tasks
from jobqueue.errors import PermanentError, RetryableError
from jobqueue.tasks import UnknownTask, discover_tasks, get_task, sleep


class FakeContext:
    """The part of ``JobContext`` the built-in tasks use."""

    def __init__(self, remaining: float = 600.0) -> None:
        self.remaining = remaining

    def remaining_seconds(self) -> float:
        return self.remaining


def write_package(root: Path, modules: dict[str, str]) -> str:
    """Write a package of task modules under ``root`` and return its importable name."""
    name = f"tasks_fixture_{uuid.uuid4().hex[:8]}"
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(textwrap.dedent(source))
    return name


@pytest.fixture
def package_root(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture(autouse=True)
def fresh_registry():
    tasks.reset_tasks()
    yield
    tasks.reset_tasks()


def test_discover_tasks_finds_task_modules(package_root):
    package = write_package(
        package_root,
        {
            "report": """
                NAME = "weekly_report"
                def run(args, ctx):
                    return {"rows": args.get("rows", 0)}
            """,
            "helpers": "def format_row(row):\n    return str(row)\n",
        },
    )

    found = discover_tasks(package)

    assert list(found.tasks) == ["weekly_report"]
    assert found.tasks["weekly_report"].module == f"{package}.report"
    assert found.tasks["weekly_report"].run({"rows": 3}, None) == {"rows": 3}
    assert found.broken == {}


def test_discover_tasks_reports_broken_modules(package_root):
    package = write_package(
        package_root,
        {
            "good": "NAME = 'good'\ndef run(args, ctx):\n    return None\n",
            "syntax": "NAME = 'syntax'\ndef run(args, ctx)\n",
            "no_run": "NAME = 'no_run'\n",
            "bad_name": "NAME = 42\ndef run(args, ctx):\n    return None\n",
        },
    )

    found = discover_tasks(package)

    assert list(found.tasks) == ["good"]
    assert "import failed: SyntaxError" in found.broken[f"{package}.syntax"]
    assert "no run(args, ctx) function" in found.broken[f"{package}.no_run"]
    assert "NAME must be a non-empty string" in found.broken[f"{package}.bad_name"]


def test_unknown_task_error_names_broken_modules(package_root):
    package = write_package(package_root, {"syntax": "NAME = 'syntax'\ndef run(args, ctx)\n"})

    error = UnknownTask("syntax", discover_tasks(package))

    assert "'syntax' is not registered" in str(error)
    assert f"{package}.syntax: import failed" in str(error)


def test_discover_tasks_duplicate_name_rejected(package_root):
    package = write_package(
        package_root,
        {
            "first": "NAME = 'cleanup'\ndef run(args, ctx):\n    return 1\n",
            "second": "NAME = 'cleanup'\ndef run(args, ctx):\n    return 2\n",
        },
    )

    found = discover_tasks(package)
    error = UnknownTask("cleanup", found)

    assert "cleanup" not in found.tasks
    assert found.duplicates == {"cleanup": [f"{package}.first", f"{package}.second"]}
    assert "defined by both" in str(error)


def test_get_task_finds_builtin_tasks():
    assert get_task("noop").module == "jobqueue.tasks.noop"
    assert get_task("sleep").module == "jobqueue.tasks.sleep"
    assert {"noop", "sleep"} <= set(tasks.task_names())


def test_get_task_unknown_is_permanent_and_lists_tasks():
    with pytest.raises(UnknownTask) as raised:
        get_task("launch_rockets")

    assert isinstance(raised.value, PermanentError)
    assert "registered tasks: " in str(raised.value)
    assert "noop" in str(raised.value)
    assert "sleep" in str(raised.value)


def test_noop_returns_none():
    assert get_task("noop").run({}, FakeContext()) is None


def test_sleep_sleeps_and_returns_seconds(mocker):
    slept = mocker.patch.object(sleep.time, "sleep")

    assert sleep.run({"seconds": 1.5}, FakeContext()) == {"sleptSeconds": 1.5}
    slept.assert_called_once_with(1.5)


@pytest.mark.parametrize("seconds", [-0.1, 60.5, float("nan"), float("inf"), "1", True, None, [1]])
def test_sleep_invalid_seconds_rejected(seconds):
    with pytest.raises(PermanentError, match="args.seconds"):
        sleep.run({"seconds": seconds}, FakeContext())


def test_sleep_accepts_range_bounds(mocker):
    mocker.patch.object(sleep.time, "sleep")

    assert sleep.run({"seconds": 0}, FakeContext()) == {"sleptSeconds": 0}
    assert sleep.run({"seconds": 60}, FakeContext()) == {"sleptSeconds": 60}


def test_sleep_longer_than_time_left_retried(mocker):
    slept = mocker.patch.object(sleep.time, "sleep")

    with pytest.raises(RetryableError, match="left in this invocation"):
        sleep.run({"seconds": 30}, FakeContext(remaining=20))
    slept.assert_not_called()
