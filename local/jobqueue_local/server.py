"""The local stack: the template's API on 127.0.0.1 and its schedules on timers, without Docker.

``LocalStack`` serves every ``Type: Api`` route of the template the way
``sam local start-api`` does. Each HTTP request becomes an API Gateway REST
proxy event, and the route's function handles it in this process through
``invoke``, so warm starts keep module state. Its proxy response goes back
as HTTP. Requests are accepted on several threads, but ``invoke`` runs one
function call at a time. Timers fire the rate() schedules in child
processes (see ``schedule``), so a long processor run never holds up the API.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import apigateway
from .errors import LocalRunnerError
from .intrinsics import default_region
from .invoke import invoke
from .routes import load_routes
from .schedule import ChildInvoker, Schedule, ScheduleTimer, load_schedules

logger = logging.getLogger("jobqueue_local")

HOST = "127.0.0.1"
DEFAULT_PORT = 3000
# API Gateway rejects request bodies above 10 MB.
MAX_BODY_BYTES = 10 * 1024 * 1024
# A keep-alive connection with no new request for this long is closed.
IDLE_CONNECTION_SECONDS = 30


class LocalStack:
    """The API server and the schedule timers of one template, against one database.

    ``processor_interval`` is the seconds between runs of every rate()
    schedule; None takes each schedule's own rate from the template, and 0
    turns the timers off. ``port`` 0 picks a free port (see ``url``).
    """

    def __init__(
        self,
        *,
        template_path: Path | str = "template.yaml",
        database_url: str,
        port: int = DEFAULT_PORT,
        processor_interval: float | None = 0,
        env_vars_file: Path | str | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.template_path = Path(template_path).resolve()
        self.port = port
        self.parameter_overrides = dict(parameter_overrides or {})
        self.env_vars_file = Path(env_vars_file).resolve() if env_vars_file is not None else None
        # The local run needs no secret, and an empty value keeps the runner from warning that
        # the DatabaseSecretArn parameter has no default.
        self.env_overrides = {"DATABASE_URL": database_url, "DB_SECRET_ARN": ""}
        self.routes = load_routes(self.template_path, self.parameter_overrides)
        self.schedules = load_schedules(self.template_path, self.parameter_overrides)
        self.processor_interval = processor_interval
        # Taken now, because invoke() swaps os.environ while a function runs and a child started
        # at that moment would inherit the function's variables.
        base_environment = dict(environment if environment is not None else os.environ)
        self._invoker = ChildInvoker(
            template_path=self.template_path,
            environment={**base_environment, **self.env_overrides},
            env_vars_file=self.env_vars_file,
            parameter_overrides=self.parameter_overrides,
        )
        self.timers: list[ScheduleTimer] = []
        self._server: _LocalApiServer | None = None
        self._server_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL the server listens on, such as http://127.0.0.1:3000."""
        if self._server is None:
            raise LocalRunnerError("the local stack is not started")
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> None:
        """Bind 127.0.0.1:port, serve requests on a background thread and start the timers."""
        try:
            self._server = _LocalApiServer((HOST, self.port), _RequestHandler, self)
        except OSError as exc:
            raise LocalRunnerError(f"cannot listen on {HOST}:{self.port} ({exc.strerror}); pass another --port") from exc
        self._server_thread = threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True)
        self._server_thread.start()

        for schedule in self.schedules:
            interval = self.interval_of(schedule)
            if interval:
                timer = ScheduleTimer(schedule, interval, self._invoker, default_region())
                timer.start()
                self.timers.append(timer)

    def stop(self) -> None:
        """Stop the timers (a run in progress gets a few seconds), then the server."""
        for timer in self.timers:
            timer.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._server_thread is not None:
            self._server_thread.join(timeout=10)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def interval_of(self, schedule: Schedule) -> float | None:
        """Return the seconds between local runs of ``schedule``, or None when it does not run locally."""
        rate = schedule.rate_seconds
        if rate is None:
            return None
        if self.processor_interval is None:
            return float(rate)
        return self.processor_interval or None

    def handle(self, request: apigateway.HttpRequest, host: str) -> apigateway.HttpResponse:
        """Route one request to its function and return the HTTP response API Gateway would send."""
        request_id = str(uuid.uuid4())
        match = self.routes.find(request.method, request.raw_path)
        if match is None:
            return apigateway.missing_route_response(request_id)

        event = apigateway.build_event(
            request,
            match,
            request_id=request_id,
            binary_media_types=match.route.binary_media_types,
            host=host,
        )
        try:
            result = invoke(
                match.route.function_id,
                event,
                template_path=self.template_path,
                env_vars_file=self.env_vars_file,
                env_overrides=self.env_overrides,
                parameter_overrides=self.parameter_overrides,
            )
        except Exception:  # noqa: BLE001 - API Gateway answers 502 to any function error
            logger.error(
                "%s raised on %s %s:\n%s",
                match.route.function_id,
                request.method,
                request.raw_path,
                traceback.format_exc(),
            )
            return apigateway.bad_gateway_response(request_id)
        try:
            return apigateway.to_http_response(result, request_id)
        except ValueError as exc:
            logger.error("%s returned an invalid proxy response: %s", match.route.function_id, exc)
            return apigateway.bad_gateway_response(request_id)


class _LocalApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], stack: LocalStack) -> None:
        self.stack = stack
        super().__init__(address, handler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _LocalApiServer
    # HTTP/1.1 keeps connections open between a page's requests; every response sets Content-Length.
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _handle(self) -> None:
        started = time.monotonic()
        body, problem = self._read_body()
        if problem is not None:
            response = problem
        else:
            target = urlsplit(self.path)
            request = apigateway.HttpRequest(
                method=self.command,
                raw_path=target.path or "/",
                query_string=target.query,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            host = self.headers.get("Host") or f"{HOST}:{self.server.server_address[1]}"
            response = self.server.stack.handle(request, host)
        self._send(response)
        logger.info(
            "%s %s -> %d (%.0f ms)", self.command, self.path, response.status, (time.monotonic() - started) * 1000
        )

    def _read_body(self) -> tuple[bytes, apigateway.HttpResponse | None]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            message = "Chunked request bodies are not supported by the local server; send Content-Length."
            return b"", apigateway.json_error_response(411, message, str(uuid.uuid4()))
        length_text = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            self.close_connection = True
            return b"", apigateway.json_error_response(400, "Invalid Content-Length header.", str(uuid.uuid4()))
        if length > MAX_BODY_BYTES:
            # The unread body would be taken for the next request, so the connection closes.
            self.close_connection = True
            return b"", apigateway.json_error_response(413, "Request Too Long", str(uuid.uuid4()))
        return (self.rfile.read(length) if length > 0 else b""), None

    def _send(self, response: apigateway.HttpResponse) -> None:
        self.send_response_only(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # _handle logs each request with its time instead.
        pass

    def log_message(self, format: str, *args: Any) -> None:
        # What http.server reports itself: malformed requests and timeouts.
        logger.warning("%s: %s", self.address_string(), format % args)
