"""Lambda: one step of a restore (check, verify or restore one item, report) or of a restore test."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from smokejumper import handlers

logger = Logger()
tracer = Tracer()


# The input holds hosts, database names and secret ARNs, never a secret's value: logged like the backups' events.
@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = handlers.parse(handlers.RestoreStepEvent, event)
    logger.set_correlation_id(request.restore_id or request.run_id)
    logger.append_keys(phase=request.phase, item=request.item)
    result = handlers.restore_step(request, handlers.environment())
    if request.phase == "test-verdict":
        handlers.emit_restore_test_metrics(result)
    logger.info("restore step done", extra={"status": result.get("status"), "seconds": result.get("seconds")})
    return result
