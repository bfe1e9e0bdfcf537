"""Lambda: start a backup run: its id and the items the workflow's Map backs up."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from smokejumper import handlers

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = handlers.parse(handlers.WorkflowStart, event)
    env = handlers.environment()
    started = handlers.start(request, env, locks=env.locks())
    logger.set_correlation_id(started["run_id"])
    items = [item["name"] for item in started["ticket"]["items"]]
    skipped = [item["reason"] for item in started["skipped"]]
    logger.info("run started", extra={"items": items, "skipped": skipped, "reason": request.request.reason})
    return started
