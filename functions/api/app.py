"""API function: the job queue's REST API behind API Gateway.

The routes, request models and error mapping live in the layer
(``jobqueue.api``), so this module only hands each event to the resolver.
API Gateway authenticates the caller before the event arrives.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from jobqueue.api import app
from jobqueue.logs import logger


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
