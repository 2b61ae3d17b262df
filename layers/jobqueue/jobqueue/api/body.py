"""Reading a request body: size limit first, then strict JSON, then "must be an object"."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from jobqueue.api.errors import ApiError

# Room for the fields around a payload (type, scheduledAt, dedupKey...) and
# for JSON escapes, on top of MAX_PAYLOAD_BYTES.
REQUEST_OVERHEAD_BYTES = 64 * 1024
# Lambda accepts at most 6 MB in a synchronous invocation's request, so a
# bulk body can never be larger once deployed.
BULK_MAX_REQUEST_BYTES = 6 * 1024 * 1024


def max_request_bytes(max_payload_bytes: int, *, bulk: bool = False) -> int:
    """Return the largest raw body accepted: one payload plus room, or Lambda's own limit for a bulk request."""
    single = max_payload_bytes + REQUEST_OVERHEAD_BYTES
    return max(single, BULK_MAX_REQUEST_BYTES) if bulk else single


def parse_json_object(text: str | bytes, max_bytes: int) -> dict[str, Any]:
    """Parse a request body that must be a JSON object of at most ``max_bytes`` bytes.

    Raises ``ApiError``: 413 when the body is too large (checked before
    parsing), 400 when it is not JSON, uses NaN or Infinity, nests too
    deeply, or is JSON but not an object.
    """
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if len(raw) > max_bytes:
        raise ApiError(
            413,
            "request_too_large",
            f"The request body is {len(raw)} bytes, above the limit of {max_bytes} bytes; "
            f"send a smaller payload and keep large data outside the queue.",
        )

    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"The request body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            f"send a JSON object.",
        ) from None
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "The request body is not UTF-8 text; send a JSON object.") from None
    except RecursionError:
        raise ApiError(
            400, "invalid_json", "The request body nests arrays or objects too deeply; flatten the payload."
        ) from None

    if not isinstance(value, dict):
        raise ApiError(400, "invalid_body", f"The request body is a JSON {_json_kind(value)}; send a JSON object.")
    return value


def _reject_constant(name: str) -> NoReturn:
    raise ApiError(
        400, "invalid_json", f"The request body uses {name}, which is not valid JSON; send a number or null."
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
