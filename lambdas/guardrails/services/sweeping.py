"""The sweep: the safety net behind the predicted alerts.

In a steady state it reads (one DescribeInstances per 1,000 running instances, one
BatchGetItem per 100) and writes nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime

from aws_lambda_powertools import Logger

from guardrails.adapters.scheduler import SCHEDULED_RULES
from guardrails.constants import SERVICE_NAME
from guardrails.domain.instance import InstanceFacts, InstanceRecord
from guardrails.services import accounting, alerting, enforcement
from guardrails.services.container import Services

logger = Logger(service=SERVICE_NAME, child=True)


class SweepIncomplete(RuntimeError):
    """Some instances could not be checked; the rest were. Raised so the error alarm fires
    and Lambda retries (alerts already sent are not sent twice)."""


@dataclass
class SweepReport:
    running: int = 0
    reconciled: int = 0
    alerts: list[str] = field(default_factory=list)


def sweep_all(svc: Services, now: datetime) -> SweepReport:
    report = SweepReport()
    running = list(svc.ec2.running())
    records = svc.table.batch_get_records(f.instance_id for f in running)
    failed: list[str] = []
    for facts in running:
        report.running += 1
        try:
            _check_running(svc, facts, records.get(facts.instance_id), now, report)
        except Exception:
            # One broken instance must not leave the others unchecked.
            logger.exception("sweep of one instance failed", instance_id=facts.instance_id)
            failed.append(facts.instance_id)
    if failed:
        raise SweepIncomplete(f"{len(failed)} of {report.running} instances failed "
                              f"(see the log): {', '.join(failed[:20])}")
    return report


def sweep_one(svc: Services, instance_id: str, now: datetime) -> SweepReport:
    report = SweepReport()
    facts = svc.ec2.describe(instance_id)
    record = svc.table.get_record(instance_id)
    if facts is not None and facts.state == "pending":
        return report  # starting: its `running` event is on the way
    if facts is None or facts.state != "running":
        # A stop we never heard of: record it, which also drops the pending schedules.
        if facts is not None and facts.state and record and record.ledger.is_running:
            accounting.record_transition(svc, instance_id, facts.state,
                                         facts.stopped_at or now, now)
        else:
            svc.scheduler.cancel(instance_id)
        return report
    report.running = 1
    # A crossing schedule fired: whatever it found, the next crossings get their schedules.
    _check_running(svc, facts, record, now, report, reschedule=SCHEDULED_RULES)
    return report


def _check_running(svc: Services, facts: InstanceFacts, record: InstanceRecord | None,
                   now: datetime, report: SweepReport,
                   reschedule: Collection[str] = ()) -> None:
    if record is None or not record.ledger.is_running:
        record = accounting.reconcile_running(svc, facts, record, now)
        report.reconciled += 1
        if record is None:
            return
    # Tags come fresh from EC2, so a new exempt tag or override applies at once.
    current = replace(record, facts=facts)
    for due in alerting.evaluate(svc, current, now, reschedule):
        report.alerts.append(f"{facts.instance_id}:{due.rule}#{due.step}")
    for action in enforcement.enforce(svc.enforcer, current, now,
                                      schedule_ahead=bool(reschedule)):
        report.alerts.append(f"{facts.instance_id}:{action}")
