"""Lambda: back up one item of a run; a failure's errorType is its stable error type (see the README)."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from smokejumper import handlers

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = handlers.parse(handlers.BackupItemEvent, event)
    logger.set_correlation_id(request.ticket.run_id)
    logger.append_keys(item=f"{request.item.component}/{request.item.name}")
    return handlers.back_up(request, handlers.environment(), context, logger=logger)
