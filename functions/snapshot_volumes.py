"""Lambda: one step of a volume selector's EBS snapshots: start them, or look at them once (never waits)."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from smokejumper import handlers

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = handlers.parse(handlers.VolumesStepEvent, event)
    logger.set_correlation_id(request.ticket.run_id)
    logger.append_keys(item=f"{request.item.component}/{request.item.name}", phase=request.phase)
    result = handlers.snapshot_volumes(request, handlers.environment())
    if result["done"]:
        logger.info("snapshots recorded", extra={"seconds": result["ref"]["seconds"]})
    else:
        logger.info(
            "snapshots pending", extra={"snapshots": len(result["snapshots"]), "pending": result.get("pending")}
        )
    return result
