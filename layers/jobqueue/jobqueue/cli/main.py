"""The ``jobqueue`` command: argument parsing, exit codes and error messages.

Scripts can rely on the exit codes in ``ExitCode``, which ``--help``
lists (``EXIT_CODES_HELP``). Errors go to stderr as ``jobqueue: error:
<message>``, or with ``--json`` as one JSON object ``{"error": {"code",
"message", "exitCode"}}``. Results go to stdout, and nothing else does.
"""

from __future__ import annotations

import argparse
import enum
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import psycopg

from jobqueue.cli import commands
from jobqueue.config import Settings
from jobqueue.enqueue import MAX_ATTEMPTS_LIMIT, PRIORITY_LIMIT
from jobqueue.errors import ConfigError, DatabaseUnavailable, InvalidJob, InvalidTransition, JobNotFound
from jobqueue.logs import logger
from jobqueue.pagination import InvalidCursor
from jobqueue.states import JobStatus, JobType

PROGRAM = "jobqueue"
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 1000
RETENTION_DAYS_MAX = 3650

# Job fields as the queue library names them in errors, and the argument that sets each.
FIELD_ARGUMENTS = {
    "type": "TYPE",
    "payload": "--payload",
    "scheduledAt": "--at",
    "delaySeconds": "--delay",
    "maxAttempts": "--max-attempts",
    "priority": "--priority",
    "dedupKey": "--dedup-key",
}


class ExitCode(enum.IntEnum):
    """The command's exit status; ``EXIT_CODES_HELP`` lists when each is used."""

    OK = 0
    USAGE = 1
    NOT_FOUND = 2
    CONFLICT = 3
    DATABASE = 4
    INTERRUPTED = 130


EXIT_CODES_HELP = """exit codes:
  0    success
  1    usage, validation or configuration error
  2    job not found
  3    the job's status does not allow the change
  4    database unavailable, failed, or without the queue's schema
  130  interrupted"""


class UsageError(Exception):
    """A command line that argparse rejected; its message is argparse's."""


class _Parser(argparse.ArgumentParser):
    # argparse exits with status 2 on a bad command line, which this
    # command reserves for "job not found".
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; print results to stdout and errors to stderr."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{PROGRAM}: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except SystemExit as exc:
        # --help printed the help text and asked to exit.
        return int(exc.code or 0)

    with _library_logs_to_stderr(verbose=args.verbose):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        session = commands.Session(Settings.from_env())
        output = args.command(args, session)
    except KeyboardInterrupt:
        return _fail(args, ExitCode.INTERRUPTED, "interrupted", "interrupted; changes already committed stay")
    except InvalidJob as exc:
        argument = FIELD_ARGUMENTS.get(exc.field, exc.field)
        return _fail(args, ExitCode.USAGE, "invalid_job", f"{argument}: {exc.problem}")
    except InvalidCursor as exc:
        return _fail(args, ExitCode.USAGE, "invalid_cursor", f"--cursor: {exc}")
    except ConfigError as exc:
        return _fail(args, ExitCode.USAGE, "invalid_configuration", str(exc))
    except JobNotFound as exc:
        return _fail(args, ExitCode.NOT_FOUND, "not_found", f"{exc}; find ids with `jobqueue list`")
    except InvalidTransition as exc:
        return _fail(
            args, ExitCode.CONFLICT, "invalid_transition", f"{exc}; see its status with `jobqueue show {exc.job_id}`"
        )
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedObject, psycopg.errors.UndefinedFunction) as exc:
        message = f"the database has no job queue schema ({_first_line(exc)}); apply it with `jobqueue migrate`"
        return _fail(args, ExitCode.DATABASE, "schema_missing", message)
    except DatabaseUnavailable as exc:
        message = f"{exc}; check DATABASE_URL or DB_SECRET_ARN, and that the database accepts connections"
        return _fail(args, ExitCode.DATABASE, "database_unavailable", message)
    except psycopg.Error as exc:
        return _fail(args, ExitCode.DATABASE, "database_error", f"the database failed: {_first_line(exc)}")

    if args.json:
        print(json.dumps(output.data, indent=2, ensure_ascii=False))
    else:
        print(output.text)
    return ExitCode.OK


def _fail(args: argparse.Namespace, code: ExitCode, name: str, message: str) -> int:
    if args.json:
        print(json.dumps({"error": {"code": name, "message": message, "exitCode": int(code)}}), file=sys.stderr)
    else:
        print(f"{PROGRAM}: error: {message}", file=sys.stderr)
    return code


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _library_logs_to_stderr(*, verbose: bool) -> Iterator[None]:
    """Send the queue library's log lines to stderr for one command, WARNING and up unless verbose.

    stdout carries only the command's result, so ``--json`` output stays
    parseable. The logger's stream and level are restored afterwards,
    because ``main`` may run inside a larger program or a test.
    """
    # The standard logger behind Powertools' Logger, whose setLevel would
    # let POWERTOOLS_LOG_LEVEL and Lambda's log settings take part.
    standard_logger = logging.getLogger(logger.name)
    handler = logger.registered_handler
    saved_level = standard_logger.level
    saved_stream = handler.setStream(sys.stderr)
    standard_logger.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        standard_logger.setLevel(saved_level)
        if saved_stream is not None:
            handler.setStream(saved_stream)


# -- arguments ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole command line, with one subcommand per operation."""
    # --json and --verbose are accepted before and after the command name.
    shared = _Parser(add_help=False)
    shared.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")
    shared.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the library's INFO logs to stderr",
    )

    parser = _Parser(
        prog=PROGRAM,
        description=(
            "Operate the PostgreSQL job queue. The database comes from DATABASE_URL, or from the\n"
            "Secrets Manager secret named by DB_SECRET_ARN."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", default=False, help="print JSON for scripts")
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=False, help="print the library's INFO logs to stderr"
    )
    subcommands = parser.add_subparsers(required=True, metavar="COMMAND", parser_class=_Parser)

    def add(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        command = subcommands.add_parser(name, parents=[shared], help=help_text, description=help_text)
        command.set_defaults(command=handler)
        return command

    migrate = add("migrate", commands.migrate_command, "apply the pending database migrations")
    migrate.add_argument("--dry-run", action="store_true", help="list the pending migrations without applying them")

    add("stats", commands.stats_command, "show job counts by status and type, and the queue's lag")

    list_parser = add("list", commands.list_command, "list jobs, newest first")
    list_parser.add_argument("--status", type=_status, help="only jobs in this status: " + ", ".join(JobStatus))
    list_parser.add_argument("--type", type=_job_type, help="only jobs of this type: " + ", ".join(JobType))
    list_parser.add_argument(
        "--limit",
        type=_whole_number(1, LIST_LIMIT_MAX),
        default=LIST_LIMIT_DEFAULT,
        help=f"jobs per page, 1 to {LIST_LIMIT_MAX} (default {LIST_LIMIT_DEFAULT})",
    )
    list_parser.add_argument("--cursor", help="the next-page cursor that the previous page printed")

    show = add("show", commands.show_command, "show one job with its payload and error history")
    show.add_argument("id", metavar="ID", help="the job's id")

    enqueue = add("enqueue", commands.enqueue_command, "add a job to the queue")
    enqueue.add_argument("type", metavar="TYPE", type=_job_type, help="the job type: " + ", ".join(JobType))
    enqueue.add_argument(
        "--payload",
        type=_payload,
        required=True,
        help="the payload, a JSON object; @FILE reads it from a file and - from stdin",
    )
    when = enqueue.add_mutually_exclusive_group()
    when.add_argument(
        "--at",
        type=_timestamp,
        metavar="TIME",
        help="when the job is due, ISO 8601 with an offset, such as 2030-01-01T12:00:00Z",
    )
    when.add_argument("--delay", type=float, metavar="SECONDS", help="seconds from now until the job is due")
    enqueue.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        metavar="N",
        help=f"attempts before the job fails for good, 1 to {MAX_ATTEMPTS_LIMIT} (default 3)",
    )
    enqueue.add_argument(
        "--priority",
        type=int,
        default=0,
        metavar="N",
        help=f"higher runs first among due jobs, {-PRIORITY_LIMIT} to {PRIORITY_LIMIT} (default 0)",
    )
    enqueue.add_argument(
        "--dedup-key",
        metavar="KEY",
        help="deduplication key: while an active job has this key, enqueue nothing and print that job",
    )

    cancel = add("cancel", commands.cancel_command, "cancel a PENDING job")
    cancel.add_argument("id", metavar="ID", help="the job's id")

    retry = add("retry", commands.retry_command, "run a FAILED or CANCELLED job again, due now")
    retry.add_argument("id", metavar="ID", help="the job's id")

    cleanup = add("cleanup", commands.cleanup_command, "delete finished and failed jobs older than the retention")
    cleanup.add_argument(
        "--days",
        type=_whole_number(1, RETENTION_DAYS_MAX),
        help="retention in days, 1 to 3650 (default RETENTION_DAYS, or 7)",
    )
    return parser


def _job_type(text: str) -> JobType:
    try:
        return JobType(text.strip().upper())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a job type; use one of {', '.join(JobType)}") from None


def _status(text: str) -> JobStatus:
    try:
        return JobStatus(text.strip().upper())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a job status; use one of {', '.join(JobStatus)}") from None


def _whole_number(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; use {minimum} to {maximum}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} is out of range; use {minimum} to {maximum}")
        return value

    return parse


def _timestamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date and time; use a form such as 2030-01-01T12:00:00Z"
        ) from None


def _payload(text: str) -> Any:
    source = "the payload"
    if text == "-":
        text, source = sys.stdin.read(), "the payload read from stdin"
    elif text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read the payload file {str(path)!r}: {exc.strerror}") from None
        source = f"the payload file {str(path)!r}"
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f'pass an object such as \'{{"incidentId": "inc_1"}}\''
        ) from None
