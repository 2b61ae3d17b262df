"""The Lambda context object handed to a handler in a local run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from .intrinsics import ACCOUNT_ID


class CognitoIdentity:
    """Caller identity, which Lambda sets only for calls through the AWS Mobile SDK, so both ids stay None."""

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None


class LambdaContext:
    """Context with the attributes and method the Python Lambda runtime provides.

    ``get_remaining_time_in_millis`` counts down from ``timeout_seconds``,
    starting when the context is created, and stops at 0. The local runner
    does not stop a handler that runs past it.
    """

    def __init__(
        self,
        *,
        function_name: str,
        memory_mb: int,
        timeout_seconds: int,
        region: str,
        log_stream_name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        # The runtime (awslambdaric) copies AWS_LAMBDA_FUNCTION_MEMORY_SIZE as is, so this is a string there too.
        self.memory_limit_in_mb = str(memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name
        self.identity = CognitoIdentity()
        self.client_context = None
        self.tenant_id: str | None = None
        self._clock = clock
        self._deadline = clock() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before the function's Timeout, never less than 0."""
        return max(0, int((self._deadline - self._clock()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r}, "
            f"remaining_ms={self.get_remaining_time_in_millis()})"
        )
