"""Errors the local runner raises; each message names the value and the fix."""

from __future__ import annotations

from collections.abc import Iterable


class LocalRunnerError(Exception):
    """Base class of every error the local runner raises on its own account."""


class TemplateError(LocalRunnerError):
    """The template, or a value in it, cannot be used for a local run."""


class EnvVarsFileError(LocalRunnerError):
    """The --env-vars file is missing or not in the format `sam local invoke` reads."""


class FunctionNotFound(LocalRunnerError):
    """The template has no AWS::Serverless::Function with the requested logical id."""

    def __init__(self, function_id: str, known_ids: Iterable[str], template_path: object) -> None:
        self.function_id = function_id
        self.known_ids = sorted(known_ids)
        known = ", ".join(self.known_ids) or "none"
        super().__init__(
            f"function {function_id!r} not found in {template_path}; "
            f"use one of the AWS::Serverless::Function logical ids: {known}"
        )


class HandlerNotFound(LocalRunnerError):
    """The function's Handler names a module file or attribute that does not exist."""


class EmbeddedDatabaseError(LocalRunnerError):
    """The embedded PostgreSQL server could not be started, stopped or prepared."""
