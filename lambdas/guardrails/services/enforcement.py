"""Carry out the hard limits (issue 5): the grace alert, the snooze, and the safe stop.

Never terminates. A stop with a live run first asks it to checkpoint to S3, and stops only
once a newer checkpoint with an S3 copy is recorded; if none comes in time, it does not stop
and says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from guardrails.adapters import ec2, utilization
from guardrails.adapters.audit import AuditLog, RunStarted
from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import Collection, RunStore
from guardrails.adapters.scheduler import AlertScheduler
from guardrails.constants import (
    RULE_CANNOT_STOP,
    RULE_STOP_GRACE,
    RULE_STOPPED,
    SERVICE_NAME,
)
from guardrails.domain import enforcement as rules
from guardrails.domain.alerts import Crossing
from guardrails.domain.audit import Audit
from guardrails.domain.enforcement import HardLimits, LimitCrossing
from guardrails.domain.enforcement_messages import (
    render_action,
    render_cannot_stop,
    render_grace,
    why,
)
from guardrails.domain.instance import InstanceRecord
from guardrails.services.checkpoint_now import checkpoint_now
from guardrails.services.once import publish_once

logger = Logger(service=SERVICE_NAME, child=True)
# Schedule steps of a limit: its crossing, the end of its grace, the end of a snooze, and the
# deadline of the checkpoint a stop waits for.
STEP_CROSSING, STEP_GRACE, STEP_SNOOZE, STEP_CHECKPOINT = 0, 1, 2, 3
CHECKPOINT_POLL = timedelta(minutes=2)


@dataclass(frozen=True)
class Enforcer:
    store: RunStore
    audit: AuditLog
    notifier: Notifier
    scheduler: AlertScheduler
    defaults: HardLimits
    checkpoint_wait: timedelta
    bucket: str | None


def enforce(e: Enforcer, record: InstanceRecord, now: datetime,
            schedule_ahead: bool) -> list[str]:
    """What the hard limits ask for now, done. `schedule_ahead`: also schedule the future
    crossings (a state change or a fired schedule does; the periodic sweep only acts, so a
    steady sweep writes nothing)."""
    iid = record.instance_id
    limits, problems = rules.limits_for(e.defaults, record.facts.tags, now)
    for problem in problems:
        logger.warning(problem, instance_id=iid)
    interval = record.ledger.open_interval
    if limits.exempt or not limits.any or interval is None:
        return []
    found = rules.crossings(record.ledger, limits, now)
    if schedule_ahead:
        for crossing in found:
            if crossing.at > now:
                _look_again(e, iid, crossing, STEP_CROSSING, crossing.at)
    if all(c.at > now for c in found) and limits.idle_minutes is None:
        return []  # nothing due: a steady sweep reads nothing more and writes nothing
    view = e.store.collection(iid)
    snooze = max((t for t in (limits.snooze_until, view.snooze_until) if t), default=None)
    if limits.idle_minutes is not None:
        found += _idle(e, record, view, limits, snooze, now)
    done: list[str] = []
    for crossing in found:
        key = rules.grace_key(crossing, interval.start, snooze, limits.dry_run)
        started = e.store.claimed_at(iid, RULE_STOP_GRACE, key) if crossing.at <= now else None
        step = rules.next_step(crossing, started, limits, snooze, now)
        if step.action == rules.WARN:
            stop_at = now + limits.grace
            if publish_once(e.store, e.notifier, iid, RULE_STOP_GRACE, key,
                            render_grace(iid, crossing, stop_at, limits.dry_run, now), now):
                done.append(f"{crossing.rule}: grace alert, stop at {stop_at.isoformat()}")
            _look_again(e, iid, crossing, STEP_GRACE, stop_at)
        elif step.action == rules.STOP:
            done.append(f"{crossing.rule}: {_stop(e, record, view, crossing, limits, key, now)}")
            break  # one stop is enough for every limit
        elif step.next_look is not None and schedule_ahead:
            kind = STEP_SNOOZE if step.action == rules.SNOOZED else STEP_GRACE
            _look_again(e, iid, crossing, kind, step.next_look)
    return done


def _idle(e: Enforcer, record: InstanceRecord, view: Collection, limits: HardLimits,
          snooze: datetime | None, now: datetime) -> list[LimitCrossing]:
    """The idle limit as a crossing, when the instance has been idle for the whole window:
    no live run, and CPU and every reported GPU below the threshold."""
    iid, interval = record.instance_id, record.ledger.open_interval
    assert interval is not None and limits.idle_minutes is not None
    window = timedelta(minutes=limits.idle_minutes)
    crossing = rules.idle_crossing(limits, now)
    if view.lock is None and now - interval.start >= window:
        seen = utilization.peak(iid, now - window, now)
        if rules.idle(seen.cpu_peak, seen.gpu_peak, seen.gpu_metrics, limits.idle_cpu_percent,
                      seen.covered):
            return [crossing]
    # Busy (again): a later idle spell gets its own grace alert (and dry-run notice).
    key = rules.grace_key(crossing, interval.start, snooze, limits.dry_run)
    for rule, claimed in ((RULE_STOP_GRACE, key), (RULE_STOPPED, f"dry#{key}")):
        if e.store.claimed_at(iid, rule, claimed) is not None:
            e.store.unclaim(iid, rule, claimed)
    return []


def _stop(e: Enforcer, record: InstanceRecord, view: Collection, crossing: LimitCrossing,
          limits: HardLimits, key: str, now: datetime) -> str:
    iid = record.instance_id
    if limits.dry_run:
        if e.store.claimed_at(iid, RULE_STOPPED, f"dry#{key}") is not None:
            return "would stop (dry run; already said)"  # a steady sweep writes nothing
        detail = ("would have been stopped now" + (
            f"; run {view.lock.run_id} would first be asked to checkpoint to S3"
            if view.lock else ""))
        if publish_once(e.store, e.notifier, iid, RULE_STOPPED, f"dry#{key}",
                        render_action(iid, crossing, "would-stop", detail, now, dry_run=True),
                        now):
            _audit(e, iid, crossing, "would-stop", detail, now)
        return "would stop (dry run)"
    if view.lock is None:
        return _stop_now(e, iid, crossing, key, "stopped: no training run was live", now,
                         only_if_no_live_run=True)
    pending = view.stop_pending if view.stop_pending and view.stop_pending.key == key else None
    if pending is None:
        return _ask_for_checkpoint(e, view, crossing, key, now)
    run_id = view.lock.run_id
    fresh = [c for c in view.checkpoints
             if c.uploaded and c.run_id == run_id and c.recorded_at >= pending.requested_at]
    if fresh:
        newest = max(fresh, key=lambda c: c.recorded_at)
        result = _stop_now(e, iid, crossing, key,
                           f"stopped after run {newest.run_id} saved epoch {newest.epoch} to "
                           f"{newest.s3_uri}", now)
        e.store.clear_stop_pending(iid)
        return result
    deadline = pending.requested_at + e.checkpoint_wait
    if now < deadline:
        # Look again soon: every minute after the checkpoint is training the stop would lose.
        _look_again(e, iid, crossing, STEP_CHECKPOINT, min(now + CHECKPOINT_POLL, deadline))
        return "waiting for the run's checkpoint"
    if e.store.claimed_at(iid, RULE_CANNOT_STOP, key) is not None:
        return "not stopped: no safe checkpoint yet (already said)"
    waited = int(e.checkpoint_wait.total_seconds() // 60)
    if publish_once(e.store, e.notifier, iid, RULE_CANNOT_STOP, key,
                    render_cannot_stop(iid, crossing, run_id, waited, now), now):
        _audit(e, iid, crossing, "not-stopped",
               f"run {run_id} recorded no checkpoint in S3 within {waited} min", now)
    return "not stopped: no safe checkpoint in time"


def _ask_for_checkpoint(e: Enforcer, view: Collection, crossing: LimitCrossing, key: str,
                        now: datetime) -> str:
    iid = view.instance_id
    if not e.store.set_stop_pending(iid, crossing.rule, key, now):
        return "a checkpoint was already asked for"
    try:
        asked = checkpoint_now(iid, view.lock, [c for c in view.checkpoints if not c.uploaded],
                               e.bucket, "before an enforced stop")
    except (ClientError, BotoCoreError) as error:
        asked = [f"could not ask it over SSM ({type(error).__name__}: {error})"]
    detail = "not stopped yet: " + "; ".join(asked)
    _look_again(e, iid, crossing, STEP_CHECKPOINT, now + min(CHECKPOINT_POLL, e.checkpoint_wait))
    _audit(e, iid, crossing, "checkpoint-requested", detail, now)
    e.notifier.publish(render_action(iid, crossing, "checkpoint-requested", detail, now))
    return "asked the live run to checkpoint first"


def _stop_now(e: Enforcer, iid: str, crossing: LimitCrossing, key: str, detail: str,
              now: datetime, only_if_no_live_run: bool = False) -> str:
    """Audit, then stop. With `only_if_no_live_run`, the audit goes in with a check that no
    run took the instance since it was read; a run that did stops the stop."""
    record = _audit_of(iid, crossing, "stopping", detail, now)
    try:
        e.audit.write(record, only_if_no_live_run=only_if_no_live_run)
    except RunStarted:
        return "not stopped: a run started just now (the next look asks it to checkpoint)"
    try:
        ec2.stop(iid)
    except (ClientError, BotoCoreError) as error:
        problem = f"EC2 refused the stop ({type(error).__name__}: {error})"
        e.audit.set_outcome(record, "not-stopped", problem)
        publish_once(e.store, e.notifier, iid, RULE_CANNOT_STOP, key,
                     render_cannot_stop(iid, crossing, None, 0, now, problem), now)
        return f"not stopped: {problem}"
    e.audit.set_outcome(record, "stopped", detail)
    publish_once(e.store, e.notifier, iid, RULE_STOPPED, key,
                 render_action(iid, crossing, "stopped", detail, now), now)
    logger.warning("instance stopped by a hard limit", instance_id=iid, rule=crossing.rule)
    return detail


def _audit_of(iid: str, crossing: LimitCrossing, outcome: str, detail: str,
              now: datetime) -> Audit:
    return Audit(instance_id=iid, at=now, execution=f"enforce-{crossing.rule}",
                 caller="guardrails", force=False, reason=why(crossing),
                 decision=crossing.rule, outcome=outcome, detail=detail)


def _audit(e: Enforcer, iid: str, crossing: LimitCrossing, outcome: str, detail: str,
           now: datetime) -> None:
    e.audit.write(_audit_of(iid, crossing, outcome, detail, now))


def _look_again(e: Enforcer, iid: str, crossing: LimitCrossing, step: int,
                at: datetime) -> None:
    e.scheduler.schedule(iid, Crossing(crossing.rule, step, crossing.limit, at))
