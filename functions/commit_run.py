"""Lambda: commit a run (its manifest, written last), carry out retention, emit the run's metrics."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from smokejumper import handlers

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=handlers.METRICS_NAMESPACE)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = handlers.parse(handlers.CommitRunEvent, event)
    logger.set_correlation_id(request.ticket.run_id)
    summary = handlers.commit(request, handlers.environment(), metrics=metrics)
    logger.info("run committed", extra={k: summary[k] for k in ("status", "failed", "size", "retention")})
    return summary
