"""Send the alerts that are due, once each, and schedule the next crossings."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from aws_lambda_powertools import Logger

from guardrails.constants import SERVICE_NAME
from guardrails.domain import thresholds
from guardrails.domain.alerts import DueAlert, due_alerts, next_crossings
from guardrails.domain.instance import InstanceRecord
from guardrails.domain.messages import render
from guardrails.services.container import Services

logger = Logger(service=SERVICE_NAME, child=True)


def evaluate(svc: Services, record: InstanceRecord, now: datetime,
             reschedule: Collection[str] = ()) -> list[DueAlert]:
    """Alert every crossing due now; then schedule the next crossing of each rule that alerted,
    and of every rule in `reschedule`. Returns the alerts this call sent."""
    limits, problems = thresholds.for_instance(svc.settings.thresholds, record.facts.tags)
    for problem in problems:
        logger.warning(problem, instance_id=record.instance_id)
    sent: list[DueAlert] = []
    alerted = dict(record.alerted)
    iid = record.instance_id
    for due in due_alerts(record.ledger, limits, now, alerted):
        message = render(due, record.facts, now)
        if svc.table.claim_alert(iid, due.rule, due.level, now, message.body):
            try:
                svc.notifier.publish(message)
            except Exception:
                svc.table.release_alert(iid, due.rule, due.level)
                raise
            svc.table.confirm_alert(iid, due.rule, due.level)
            sent.append(due)
            logger.info("alert sent", instance_id=iid, rule=due.rule, step=due.step,
                        severity=message.attributes["severity"])
        elif not svc.table.alert_published(iid, due.rule, due.level):
            # Another evaluation claimed it and has not sent it yet (or failed and will
            # release it): only a sent alert may count as alerted.
            continue
        svc.table.mark_alerted(iid, due.rule, due.level)
        alerted[due.rule] = max(due.level, alerted.get(due.rule, due.level))
    to_schedule = {due.rule for due in sent} | set(reschedule)
    if to_schedule:
        current = replace(record, alerted=MappingProxyType(alerted))
        for crossing in next_crossings(current.ledger, limits, now, current.alerted):
            if crossing.rule in to_schedule:
                svc.scheduler.schedule(record.instance_id, crossing)
    return sent
