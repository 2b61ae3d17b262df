"""The queue's structured logger.

One Powertools ``Logger`` for the whole layer: a JSON object per line
with the service name, level and timestamp, plus the Lambda request id
once an entry point calls ``logger.inject_lambda_context``. Log calls pass
their fields in ``extra``: ``action``, ``job_id``, ``job_type``,
``attempt`` and so on. The service name comes from
``POWERTOOLS_SERVICE_NAME`` and the level from ``POWERTOOLS_LOG_LEVEL``.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "jobqueue")
