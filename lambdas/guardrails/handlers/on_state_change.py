"""EC2 state change -> open or close a running interval, alert, and schedule the crossings."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from guardrails.adapters import clock
from guardrails.constants import METRICS_NAMESPACE, SERVICE_NAME
from guardrails.events import EventRejected, parse_state_change
from guardrails.services import accounting, postmortem
from guardrails.services.container import Services, build
from guardrails.settings import Settings

logger = Logger(service=SERVICE_NAME)
GONE = frozenset({"shutting-down", "terminated"})
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)


@cache
def services() -> Services:
    return build(Settings.from_env())


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    now = clock.now()
    try:
        change = parse_state_change(event, now)
    except EventRejected as rejected:
        logger.warning("event rejected, nothing written", reason=str(rejected))
        metrics.add_metric(name="StateChangesRejected", unit=MetricUnit.Count, value=1)
        return {"status": "rejected", "reason": str(rejected)}
    detail = change.detail
    logger.append_keys(instance_id=detail.instance_id, state=detail.state)
    outcome = accounting.record_transition(services(), detail.instance_id, detail.state,
                                           change.time, now)
    if detail.state in GONE:
        postmortem.report_bypass(services().runs, services().notifier, detail.instance_id,
                                 detail.state, change.time)
    logger.info("state change handled", status=outcome.status, reason=outcome.reason)
    metrics.add_metric(name=f"StateChanges{outcome.status.capitalize()}", unit=MetricUnit.Count,
                       value=1)
    return {"status": outcome.status, "reason": outcome.reason}
