"""Run budgets (issue 5): alert once when a run is forecast to cost more than its budget."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger

from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.constants import RULE_RUN_BUDGET, SERVICE_NAME
from guardrails.domain.budget import forecast
from guardrails.domain.enforcement_messages import render_budget
from guardrails.services.once import publish_once

logger = Logger(service=SERVICE_NAME, child=True)


def check(store: RunStore, notifier: Notifier, instance_id: str, run_id: str,
          now: datetime) -> bool:
    """After a heartbeat: True if this call sent the run's over-budget alert."""
    run, record = store.run_and_record(instance_id, run_id)
    if run is None or run.budget_usd is None or record is None:
        return False
    projected = forecast(run, record.ledger, now)
    if not projected.over_budget:
        return False
    sent = publish_once(store, notifier, instance_id, RULE_RUN_BUDGET, run_id,
                        render_budget(run, projected, record.ledger.current_rate, now), now)
    if sent:
        logger.warning("run forecast over budget", instance_id=instance_id, run_id=run_id,
                       forecast=str(projected.forecast_usd), budget=str(run.budget_usd))
    return sent
