"""Invoke a template function's handler in this process, the way `sam local invoke` does in a container.

Each function gets its own copy of its handler module, loaded from the
function's CodeUri under a private module name, so two functions whose
handlers are both ``app.py`` can run in one process. The loaded module is
kept, so the next invocation is a warm start with module state intact, as
in a Lambda execution environment.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from .context import LambdaContext
from .errors import HandlerNotFound
from .template import FunctionConfig, resolve_function

logger = logging.getLogger(__name__)

# os.environ, sys.path and sys.modules belong to the whole process, so invocations run one at a time.
_INVOKE_LOCK = threading.RLock()


@dataclass
class _LoadedFunction:
    """A function's handler after its cold start, plus the modules it imported from its own folder."""

    module_name: str
    handler: Callable[[Any, Any], Any]
    log_stream_name: str
    # Modules from the function's CodeUri, kept out of sys.modules between invocations.
    private_modules: dict[str, ModuleType] = field(default_factory=dict)


_loaded_functions: dict[tuple[str, Path, str], _LoadedFunction] = {}
_warned_functions: set[tuple[str, Path, str]] = set()


def invoke(
    function_id: str,
    event: Any,
    *,
    template_path: Path | str = "template.yaml",
    env_vars_file: Path | str | None = None,
    env_overrides: Mapping[str, str] | None = None,
    parameter_overrides: Mapping[str, Any] | None = None,
) -> Any:
    """Call the handler of ``function_id`` with ``event`` and return what the handler returns.

    For the duration of the call, os.environ contains the function's resolved
    environment (see ``template.resolve_function``), the Lambda variables
    (``AWS_LAMBDA_FUNCTION_NAME`` and the others the runtime sets) and then
    ``env_overrides``, which win over everything. It is restored afterwards.
    The function's CodeUri and layer folders are on sys.path during the call.

    The first call for a function (by logical id, CodeUri and Handler) is a
    cold start that imports the handler module, and later calls reuse it. Exceptions from the handler
    propagate unchanged. Raises ``FunctionNotFound``, ``TemplateError`` or
    ``EnvVarsFileError`` for configuration problems and ``HandlerNotFound``
    when the Handler names a missing file or attribute.
    """
    config = resolve_function(
        template_path,
        function_id,
        env_vars_file=env_vars_file,
        parameter_overrides=parameter_overrides,
        shell_env=os.environ,
    )
    key = (config.logical_id, config.code_uri, config.handler)
    _warn_once(key, config, overridden=set(env_overrides or {}))

    with _INVOKE_LOCK:
        function = _loaded_functions.get(key)
        log_stream_name = function.log_stream_name if function else _new_log_stream_name()
        variables = _lambda_variables(config, log_stream_name)
        variables.update(config.environment)
        variables.update({name: str(value) for name, value in (env_overrides or {}).items()})
        private_modules = function.private_modules if function else {}

        with _environment(variables), _import_path(config), _own_modules(config.code_uri, private_modules):
            if function is None:
                function = _load_handler(config, log_stream_name, private_modules)
                _loaded_functions[key] = function

            context = LambdaContext(
                function_name=config.function_name,
                memory_mb=config.memory_mb,
                timeout_seconds=config.timeout_seconds,
                region=config.region,
                log_stream_name=log_stream_name,
            )
            started = time.monotonic()
            result = function.handler(event, context)
            elapsed = time.monotonic() - started

    if elapsed > config.timeout_seconds:
        logger.warning(
            "%s ran for %.1f s, past its Timeout of %d s; Lambda would have stopped it",
            config.logical_id,
            elapsed,
            config.timeout_seconds,
        )
    return result


def _warn_once(key: tuple[str, Path, str], config: FunctionConfig, overridden: set[str]) -> None:
    if key in _warned_functions:
        return
    _warned_functions.add(key)
    if config.ignored_overrides:
        logger.warning(
            "%s: env-vars entries %s are ignored because the template declares no such variables for it "
            "(sam local invoke ignores them too); declare them under Environment.Variables",
            config.logical_id,
            ", ".join(config.ignored_overrides),
        )
    for name in sorted(set(config.unresolved_variables) - overridden):
        logger.warning(
            "%s: %s has no local value and is set to %s; if the function reads it, set it in the --env-vars file",
            config.logical_id,
            name,
            config.environment[name],
        )
    if config.skipped_layers:
        logger.warning(
            "%s: layers %s are not in this template and cannot be loaded locally; "
            "install their packages into the virtualenv instead",
            config.logical_id,
            ", ".join(config.skipped_layers),
        )


def _new_log_stream_name() -> str:
    # Lambda names one stream per execution environment, so warm starts share it.
    today = datetime.now(UTC).strftime("%Y/%m/%d")
    return f"{today}/[$LATEST]{uuid.uuid4().hex}"


def _lambda_variables(config: FunctionConfig, log_stream_name: str) -> dict[str, str]:
    """Return the variables the Lambda runtime sets. Unlike sam, leave AWS credentials to the shell."""
    return {
        "AWS_SAM_LOCAL": "true",
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or config.region,
        "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(config.timeout_seconds),
        "AWS_LAMBDA_FUNCTION_HANDLER": config.handler,
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name,
    }


@contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(variables)
    try:
        yield
    finally:
        # Undo the handler's own changes to os.environ too, so they do not reach the next invocation.
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        for name, value in saved.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


@contextmanager
def _import_path(config: FunctionConfig) -> Iterator[None]:
    # Lambda searches the function's code first, then its layers in order.
    entries = [str(config.code_uri), *(str(path) for path in config.layer_paths)]
    sys.path[0:0] = entries
    try:
        yield
    finally:
        for entry in entries:
            if entry in sys.path:
                sys.path.remove(entry)


@contextmanager
def _own_modules(code_uri: Path, private_modules: dict[str, ModuleType]) -> Iterator[None]:
    """Put the function's own modules in sys.modules for the call and take them out afterwards.

    Without this, a helper module that two functions both name ``utils``
    would be imported once and shared. Layer modules stay shared, see the
    note in ``_load_handler``.
    """
    sys.modules.update(private_modules)
    try:
        yield
    finally:
        prefix = str(code_uri) + os.sep
        handler_modules = {function.module_name for function in _loaded_functions.values()}
        for name, module in list(sys.modules.items()):
            module_file = getattr(module, "__file__", None)
            if module_file and module_file.startswith(prefix) and name not in handler_modules:
                private_modules[name] = sys.modules.pop(name)


def _load_handler(
    config: FunctionConfig, log_stream_name: str, private_modules: dict[str, ModuleType]
) -> _LoadedFunction:
    """Import the handler module from the function's CodeUri under a module name no other function uses.

    NOTE: modules from the layer folders (``jobqueue``) are imported once per
    process and shared by every function, where Lambda gives each function
    its own process. Module-level state in the layer, such as a cached
    connection or settings read at import, is therefore shared locally.
    """
    module_path, _, attribute = config.handler.rpartition(".")
    # Lambda accepts both "package.module.handler" and "folder/module.handler".
    relative_file = module_path.replace(".", "/") + ".py"
    module_file = config.code_uri / relative_file
    if not module_file.is_file():
        raise HandlerNotFound(
            f"{config.logical_id}: Handler {config.handler!r} needs {module_file}, which does not exist; "
            "check CodeUri and Handler in the template"
        )

    module_name = _private_module_name(config.logical_id, module_path)
    spec = importlib.util.spec_from_file_location(module_name, module_file)
    if spec is None or spec.loader is None:
        raise HandlerNotFound(f"{config.logical_id}: cannot import {module_file} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, because dataclasses and pickle look a module up in sys.modules by name.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise

    handler = getattr(module, attribute, None)
    if not callable(handler):
        sys.modules.pop(module_name, None)
        raise HandlerNotFound(
            f"{config.logical_id}: {module_file} has no function {attribute!r}; check Handler in the template"
        )
    return _LoadedFunction(module_name, handler, log_stream_name, private_modules)


def _private_module_name(function_id: str, module_path: str) -> str:
    base = f"_local_lambda_{function_id}_" + module_path.replace("/", "_").replace(".", "_")
    name = base
    suffix = 1
    while name in sys.modules:
        suffix += 1
        name = f"{base}_{suffix}"
    return name
