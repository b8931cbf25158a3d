"""Record state transitions and keep each instance's running intervals."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from guardrails.adapters.scheduler import SCHEDULED_RULES
from guardrails.constants import SERVICE_NAME
from guardrails.domain import thresholds
from guardrails.domain.instance import InstanceFacts, InstanceRecord
from guardrails.domain.ledger import RUNNING, Ledger, Transition
from guardrails.services import alerting, enforcement
from guardrails.services.container import Services

logger = Logger(service=SERVICE_NAME, child=True)
SAVE_ATTEMPTS = 5


@dataclass(frozen=True)
class Outcome:
    status: str  # recorded | unchanged | rejected
    reason: str = ""


class ConcurrentUpdate(RuntimeError):
    """Another writer kept winning the conditional write; the event is retried by Lambda."""


def record_transition(svc: Services, instance_id: str, state: str, at: datetime,
                      now: datetime) -> Outcome:
    for _ in range(SAVE_ATTEMPTS):
        record = svc.table.get_record(instance_id)
        ledger = record.ledger if record else Ledger()
        if ledger.knows(Transition(at, state)):
            if record is not None:
                # A retry after a failed alert or schedule: finish what the first try began.
                after_change(svc, record, now)
            return Outcome("unchanged", "this transition is already recorded")
        facts = record.facts if record else None
        if facts is None or state in ("pending", RUNNING):
            facts = svc.ec2.describe(instance_id) or facts
        if facts is None:
            return Outcome("rejected", f"{instance_id} is unknown to EC2 and was never recorded; "
                                       "nothing to account for")
        saved = _save(svc, record, facts, ledger, _transition(svc, facts, state, at, now))
        if saved is not None:
            after_change(svc, saved, now)
            return Outcome("recorded")
    raise ConcurrentUpdate(f"{instance_id}: gave up after {SAVE_ATTEMPTS} conflicting writes")


def reconcile_running(svc: Services, facts: InstanceFacts, record: InstanceRecord | None,
                      now: datetime) -> InstanceRecord | None:
    """An instance EC2 says is running, that the ledger does not have running (it predates
    the stack, or an event was missed): open its interval at its last start."""
    started = facts.launch_time or now
    ledger = record.ledger if record else Ledger()
    if ledger.state_since is not None and ledger.state_since >= started:
        # A `pending` (or a stop) recorded after LaunchTime: open just after it, or the
        # interval would sort before it and the ledger would never read as running.
        started = ledger.state_since + timedelta(seconds=1)
    saved = _save(svc, record, facts, ledger, _transition(svc, facts, RUNNING, started, now))
    if saved is None:
        logger.info("reconcile lost a race; the next sweep retries", instance_id=facts.instance_id)
        return None
    logger.info("reconciled a running instance", instance_id=facts.instance_id,
                since=started.isoformat())
    after_change(svc, saved, now)
    return saved


def after_change(svc: Services, record: InstanceRecord, now: datetime) -> None:
    """Alert and schedule for a running instance; drop the schedules of any other."""
    limits, _ = thresholds.for_instance(svc.settings.thresholds, record.facts.tags)
    # EC2's own word wins over a late `running` event for an instance already stopping.
    ec2_running = record.facts.state in (None, "pending", RUNNING)
    if record.ledger.is_running and ec2_running and not limits.exempt:
        alerting.evaluate(svc, record, now, reschedule=SCHEDULED_RULES)
        enforcement.enforce(svc.enforcer, record, now, schedule_ahead=True)
    else:
        svc.scheduler.cancel(record.instance_id)


def _transition(svc: Services, facts: InstanceFacts, state: str, at: datetime,
                now: datetime) -> Transition:
    if state != RUNNING:
        return Transition(at, state)
    price = svc.prices.price(facts, now)
    return Transition(at, state, price.usd_per_hour, price.source)


def _save(svc: Services, record: InstanceRecord | None, facts: InstanceFacts, ledger: Ledger,
          transition: Transition) -> InstanceRecord | None:
    """The record with `transition` written; the record unchanged if the ledger already has
    it; None if another writer won the conditional write (the caller decides to retry)."""
    updated = ledger.apply(transition)
    if updated is None:
        return record
    base = record or InstanceRecord(facts)
    candidate = replace(base, facts=facts, ledger=updated)
    if not svc.table.save_record(candidate):
        return None
    return replace(candidate, version=candidate.version + 1)
