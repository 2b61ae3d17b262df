"""The job queue's REST API for API Gateway: one Powertools resolver, ``app``.

``resolver`` builds ``app``; ``jobs`` and ``incidents`` hold the routes,
``models`` the request and response models, ``body`` and ``cursor`` the
parsing of raw input, and ``errors`` the mapping of every error to HTTP.
``dashboard_routes`` serves the HTML dashboard that ``dashboard`` renders,
and ``fetch_metadata`` rejects writes a browser sends from another site.
"""

from jobqueue.api.resolver import app

__all__ = ["app"]
