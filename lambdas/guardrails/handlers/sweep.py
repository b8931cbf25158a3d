"""Periodic sweep of every running instance, or of one instance when its crossing is due."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from guardrails.adapters import clock
from guardrails.constants import METRICS_NAMESPACE, SERVICE_NAME
from guardrails.events import EventRejected, parse_sweep_request
from guardrails.services.container import Services, build
from guardrails.services.staleness import release_stale_runs
from guardrails.services.sweeping import SweepIncomplete, sweep_all, sweep_one
from guardrails.settings import Settings

logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)


@cache
def services(own_arn: str) -> Services:
    # One-time schedules target this same function.
    return build(Settings.from_env(), sweep_function_arn=own_arn)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = parse_sweep_request(event)
    except EventRejected as rejected:
        logger.warning("event rejected, nothing written", reason=str(rejected))
        metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=1)
        return {"status": "rejected", "reason": str(rejected)}
    svc = services(context.invoked_function_arn)
    now = clock.now()
    if request is None:
        stale = release_stale_runs(svc.runs, svc.notifier, timedelta(
            minutes=svc.settings.heartbeat_timeout_minutes), now)
        report = sweep_all(svc, now)
        report.alerts += [f"stale-run:{run}" for run in stale.released]
        if stale.failed:
            raise SweepIncomplete(f"stale check failed for runs {', '.join(stale.failed)} "
                                  "(see the log); the cost sweep ran")
    else:
        logger.append_keys(instance_id=request.instance_id, rule=request.rule)
        report = sweep_one(svc, request.instance_id, now)
    metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=len(report.alerts))
    logger.info("sweep done", running=report.running, reconciled=report.reconciled,
                alerts=report.alerts)
    return {"status": "swept", "running": report.running, "reconciled": report.reconciled,
            "alerts": report.alerts}
