"""Command line for the local runner: ``python -m jobqueue_local {invoke,serve,db,db-stop,demo}``.

Run it from the project root with ``PYTHONPATH=layers/jobqueue:local``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import embedded
from .errors import LocalRunnerError
from .invoke import invoke
from .server import DEFAULT_PORT, LocalStack
from .template import resolve_function

logger = logging.getLogger("jobqueue_local")

# Locally the processor runs every minute, more often than the deployed
# default of rate(5 minutes), so jobs run soon after they are due.
DEFAULT_PROCESSOR_INTERVAL_SECONDS = 60


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return the process exit status.

    Logging is left to the caller. Run as ``python -m jobqueue_local``, the
    runner's own messages go to stderr.
    """
    args = _parser().parse_args(argv)
    try:
        return int(args.command(args))
    except LocalRunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobqueue_local",
        description="Run the SAM template's functions locally without Docker, like `sam local invoke`.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    invoke_parser = commands.add_parser(
        "invoke",
        help="invoke one function with an event and print its result as JSON",
        description="Invoke a function's handler in this process. Its logs go to stderr and its result "
        "goes to stdout. Without DATABASE_URL, the embedded PostgreSQL is started and migrated first.",
    )
    invoke_parser.add_argument(
        "function_id", metavar="FUNCTION_ID", help="logical id in the template, e.g. ApiFunction"
    )
    invoke_parser.add_argument(
        "-e", "--event", metavar="EVENT_FILE", help="JSON event file, or - for stdin (default: the event {})"
    )
    invoke_parser.add_argument(
        "--env-vars", metavar="FILE", help="JSON file of environment variable overrides, as for `sam local invoke`"
    )
    invoke_parser.add_argument(
        "-t", "--template", default="template.yaml", help="SAM template path (default: template.yaml)"
    )
    invoke_parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter values that replace their Default",
    )
    invoke_parser.set_defaults(command=_invoke_command)

    serve_parser = commands.add_parser(
        "serve",
        help="serve the API on 127.0.0.1 and run the processor on a timer, like `sam local start-api`",
        description="Serve every Api route of the template on 127.0.0.1, each request turned into an API Gateway "
        "proxy event for its function, and fire the template's rate() schedules on timers. Without DATABASE_URL, "
        "the embedded PostgreSQL is started and migrated first. Ctrl-C stops it.",
    )
    serve_parser.add_argument(
        "-p", "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default: {DEFAULT_PORT}; 0 picks one)"
    )
    serve_parser.add_argument(
        "--processor-interval",
        type=_interval,
        default=str(DEFAULT_PROCESSOR_INTERVAL_SECONDS),
        metavar="SECONDS",
        help="seconds between scheduled processor runs (default: %(default)s); 0 turns the timer off, "
        "and 'template' uses the template's rate(), such as ProcessorSchedule's rate(5 minutes)",
    )
    serve_parser.add_argument(
        "--env-vars", metavar="FILE", help="JSON file of environment variable overrides, as for `sam local start-api`"
    )
    serve_parser.add_argument(
        "-t", "--template", default="template.yaml", help="SAM template path (default: template.yaml)"
    )
    serve_parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter values that replace their Default",
    )
    serve_parser.set_defaults(command=_serve_command)

    db_parser = commands.add_parser("db", help="start the embedded PostgreSQL, apply migrations and print its URL")
    db_parser.set_defaults(command=_db_command)
    stop_parser = commands.add_parser("db-stop", help="stop the embedded PostgreSQL, keeping its data")
    stop_parser.set_defaults(command=_db_stop_command)
    demo_parser = commands.add_parser("demo", help="run the local demo (jobqueue_local.demo)")
    demo_parser.set_defaults(command=_demo_command)
    return parser


def _configure_logging() -> None:
    # Only the runner's own logger, because the function code configures its loggers itself, as in Lambda.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _invoke_command(args: argparse.Namespace) -> int:
    event = _read_event(args.event)
    parameters = _parse_parameter_overrides(args.parameter_overrides)
    config = resolve_function(
        args.template,
        args.function_id,
        env_vars_file=args.env_vars,
        parameter_overrides=parameters,
        shell_env=os.environ,
    )

    # Like `sam local invoke`, logs go to stderr so stdout carries only the result. Loggers created
    # from here on (Powertools writes to sys.stdout) pick up the redirected stream.
    result_stream = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        env_overrides: dict[str, str] = {}
        if not (os.environ.get("DATABASE_URL") or config.environment.get("DATABASE_URL")):
            env_overrides["DATABASE_URL"] = _prepare_embedded_database()
        status, payload = _run_handler(args, event, parameters, env_overrides)

    try:
        print(json.dumps(payload), file=result_stream)
    except (TypeError, ValueError) as exc:
        raise LocalRunnerError(f"{args.function_id} returned a value that is not JSON serializable: {exc}") from exc
    return status


def _run_handler(
    args: argparse.Namespace, event: Any, parameters: dict[str, str], env_overrides: dict[str, str]
) -> tuple[int, Any]:
    """Return (0, result), or (1, Lambda's error object) when the handler raises."""
    try:
        result = invoke(
            args.function_id,
            event,
            template_path=args.template,
            env_vars_file=args.env_vars,
            env_overrides=env_overrides,
            parameter_overrides=parameters,
        )
    except LocalRunnerError:
        raise
    except Exception as exc:  # noqa: BLE001 - any handler error is reported, as Lambda reports it
        traceback.print_exc()
        return 1, {"errorMessage": str(exc), "errorType": type(exc).__name__}
    return 0, result


def _interval(text: str) -> float | None:
    """Parse --processor-interval: seconds, or "template" (returned as None) for the template's own rate."""
    if text == "template":
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number of seconds nor 'template'") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 (timer off) or a positive number of seconds")
    return seconds


def _serve_command(args: argparse.Namespace) -> int:
    parameters = _parse_parameter_overrides(args.parameter_overrides)
    database_url = os.environ.get("DATABASE_URL") or _prepare_embedded_database()
    stack = LocalStack(
        template_path=args.template,
        database_url=database_url,
        port=args.port,
        processor_interval=args.processor_interval,
        env_vars_file=args.env_vars,
        parameter_overrides=parameters,
    )
    stack.start()

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    try:
        _log_serving(stack)
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        logger.info("stopping")
        stack.stop()
    return 0


def _log_serving(stack: LocalStack) -> None:
    stages = sorted({route.stage for route in stack.routes.routes})
    logger.info(
        "serving the API on %s, without the stage prefix (%s) that deployed URLs have", stack.url, ", ".join(stages)
    )
    for route in stack.routes.routes:
        logger.info("  %-6s %s%s -> %s", route.method, stack.url, route.resource, route.function_id)
    if stack.routes.find("GET", "/dashboard"):
        logger.info("dashboard: %s/dashboard", stack.url)
    for schedule in stack.schedules:
        interval = stack.interval_of(schedule)
        name = f"{schedule.function_id} {schedule.event_name} {schedule.expression}"
        if interval:
            logger.info("%s: runs every %g s locally", name, interval)
        elif schedule.rate_seconds is None:
            logger.info("%s: cron schedules do not run locally; use the invoke command", name)
        else:
            logger.info("%s: timer off (--processor-interval 0)", name)
    logger.info("press Ctrl-C to stop")


def _read_event(path: str | None) -> Any:
    if path is None:
        return {}
    source = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LocalRunnerError(f"event file {path} not found; pass a path relative to the current folder") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LocalRunnerError(f"event from {source} is not valid JSON: {exc}") from exc


def _parse_parameter_overrides(items: Sequence[str]) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator or not name:
            raise LocalRunnerError(f"parameter override {item!r} must look like NAME=VALUE")
        parameters[name] = value
    return parameters


def _prepare_embedded_database() -> str:
    """Start the embedded PostgreSQL, apply the migrations and return its URL."""
    url = embedded.ensure_database()
    applied = _migrate(url)
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    return url


def _migrate(url: str) -> list[str]:
    try:
        from jobqueue.migrations import migrate
    except ModuleNotFoundError as exc:
        raise LocalRunnerError(
            f"cannot import jobqueue.migrations ({exc}); "
            "run from the project root with PYTHONPATH=layers/jobqueue:local"
        ) from exc
    return migrate(url)


def _db_command(args: argparse.Namespace) -> int:
    if os.environ.get("DATABASE_URL"):
        logger.info("DATABASE_URL is set, so migrating that database instead of starting the embedded one")
    url_stream = sys.stdout
    # The migrations log through Powertools, which writes to sys.stdout, so send that to stderr and keep
    # stdout for the URL.
    with contextlib.redirect_stdout(sys.stderr):
        url = _prepare_embedded_database()
    print(url, file=url_stream)
    return 0


def _db_stop_command(args: argparse.Namespace) -> int:
    if embedded.stop():
        logger.info("stopped the embedded PostgreSQL in %s", embedded.DEFAULT_PGDATA)
    else:
        logger.info("no embedded PostgreSQL is running in %s", embedded.DEFAULT_PGDATA)
    return 0


def _demo_command(args: argparse.Namespace) -> int:
    try:
        demo = importlib.import_module("jobqueue_local.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "jobqueue_local.demo":
            raise
        raise LocalRunnerError("jobqueue_local/demo.py does not exist yet, so there is no demo to run") from exc
    result = demo.main()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    _configure_logging()
    sys.exit(main())
