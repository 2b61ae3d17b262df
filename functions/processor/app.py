"""Processor function: runs due jobs on a schedule, and cleans up daily.

The EventBridge schedule invokes it every few minutes; see
``jobqueue.invocation`` for the events it accepts and what each does.
"""

from aws_lambda_powertools.utilities.typing import LambdaContext

from jobqueue import invocation
from jobqueue.logs import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return invocation.handle(
        event,
        request_id=context.aws_request_id,
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
    )
