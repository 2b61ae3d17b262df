"""Processor function: runs due jobs on a schedule, and cleans up daily.

The EventBridge schedule invokes it every few minutes; see
``jobqueue.invocation`` for the events it accepts and what each does.
``log_metrics`` prints the invocation's EMF metrics when the handler
returns or raises (see ``jobqueue.metrics``), and the handler is traced
only when tracing is on (see ``jobqueue.tracing``).
"""

from aws_lambda_powertools.utilities.typing import LambdaContext

from jobqueue import invocation, tracing
from jobqueue.logs import logger
from jobqueue.metrics import invocation_metrics

metrics = invocation_metrics()


@logger.inject_lambda_context(clear_state=True)
@tracing.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return invocation.handle(
        event,
        request_id=context.aws_request_id,
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
    )
