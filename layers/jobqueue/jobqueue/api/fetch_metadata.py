"""Reject writes that a browser sends on behalf of another site.

The dashboard invites operators to use the API from a browser, often
through a proxy that adds the credentials (see the README). Such a proxy
would also sign a form that another site makes the operator's browser post,
so a write must come from the API's own origin. Browsers state in
``Sec-Fetch-Site`` whether a request comes from a page of the same origin,
of the same site or of another site. Chrome 76, Firefox 90 and Safari 16.4
onwards send it for HTTPS and loopback URLs, and a page cannot set or
change it. Clients other than browsers do not send it, so their requests
pass unchanged.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from jobqueue.api.errors import ApiError, error_response
from jobqueue.logs import logger

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# "none" is a request the user started (typed URL, bookmark), never one another page made.
ALLOWED_SITES = frozenset({"same-origin", "none"})


def reject_cross_site_writes(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    """Return 403 for a write whose Sec-Fetch-Site is anything but same-origin or none, and pass other requests on."""
    event = app.current_event
    site = (event.headers.get("sec-fetch-site") or "").strip().lower()
    if event.http_method.upper() in SAFE_METHODS or not site or site in ALLOWED_SITES:
        return next_middleware(app)

    logger.warning(
        "cross-site write rejected",
        extra={"action": "cross_site_rejected", "sec_fetch_site": site, "path": event.path},
    )
    message = (
        f"A browser sent this {event.http_method.upper()} request from another site (Sec-Fetch-Site: {site}); "
        "send writes from the dashboard's own origin or from a client that is not a browser."
    )
    return error_response(ApiError(403, "cross_site_request", message))
