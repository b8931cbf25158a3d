"""Alerts of the enforced hard limits: the grace warning, what was done, and what could not
be done safely."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from guardrails.constants import (
    RULE_CANNOT_STOP,
    RULE_RUN_BUDGET,
    RULE_STOP_COST,
    RULE_STOP_GRACE,
    RULE_STOP_IDLE,
    RULE_STOPPED,
    SEVERITY_HIGH,
    SEVERITY_WARNING,
    TAG_SNOOZE_UNTIL,
)
from guardrails.domain.budget import Forecast
from guardrails.domain.enforcement import LimitCrossing
from guardrails.domain.messages import SUBJECT_LIMIT, AlertMessage, usd
from guardrails.domain.runs import Run, progress


def why(crossing: LimitCrossing) -> str:
    if crossing.rule == RULE_STOP_IDLE:
        return (f"it has been idle for {crossing.limit:g} min (no live run, CPU and GPU below "
                "the idle threshold)")
    if crossing.rule == RULE_STOP_COST:
        return f"its accumulated cost reached the ${crossing.limit:,.2f} stop limit"
    return f"its uptime reached the {crossing.limit:g} h stop limit"


def _message(instance_id: str, rule: str, level: str, headline: str, text: str,
             at: datetime, crossing: LimitCrossing, **extra: Any) -> AlertMessage:
    body = {"instance_id": instance_id, "rule": rule, "severity": level, "time": at.isoformat(),
            "limit_rule": crossing.rule, "limit": float(crossing.limit), "message": text,
            **extra}
    return AlertMessage(f"[guardrails {level}] {headline}"[:SUBJECT_LIMIT], body,
                        {"rule": rule, "severity": level, "instance_id": instance_id})


def postpone_hint(instance_id: str) -> str:
    return (f"To postpone: guardctl snooze {instance_id} --hours N --reason TEXT, or tag it "
            f"{TAG_SNOOZE_UNTIL}=<ISO time>")


def render_grace(instance_id: str, crossing: LimitCrossing, stop_at: datetime,
                 dry_run: bool, at: datetime) -> AlertMessage:
    verb = "would be stopped (dry run: nothing will change)" if dry_run else "will be stopped"
    care = ("" if crossing.rule == RULE_STOP_IDLE else
            "A live training run is asked to checkpoint to S3 first, and the stop waits for "
            "it. ")
    text = (f"{instance_id} {verb} at {stop_at:%Y-%m-%d %H:%M} UTC: {why(crossing)}. {care}"
            f"{postpone_hint(instance_id)}.")
    return _message(instance_id, RULE_STOP_GRACE, SEVERITY_WARNING,
                    f"{instance_id} {'would stop' if dry_run else 'stops'} at "
                    f"{stop_at:%H:%M} UTC", text, at, crossing, stop_at=stop_at.isoformat(),
                    dry_run=dry_run)


def render_action(instance_id: str, crossing: LimitCrossing, action: str, detail: str,
                  at: datetime, dry_run: bool = False) -> AlertMessage:
    """What was done: stopped, would have stopped, or asked the run to checkpoint first."""
    text = f"{instance_id}: {detail}, because {why(crossing)}."
    if not dry_run:
        text += (" Start it again when needed: aws ec2 start-instances --instance-ids "
                 f"{instance_id} (raise its limit by tag first, or it stops again after the "
                 "grace period).") if action == "stopped" else ""
    else:
        text += (" Dry run: nothing was changed. When these alerts look right, set "
                 "enforcement_dry_run=false.")
    return _message(instance_id, RULE_STOPPED, SEVERITY_WARNING,
                    f"{instance_id} {action.replace('-', ' ')}", text, at, crossing,
                    action=action, dry_run=dry_run)


def render_cannot_stop(instance_id: str, crossing: LimitCrossing, run_id: str | None,
                       waited_minutes: int, at: datetime, problem: str = "") -> AlertMessage:
    if run_id is not None:
        cause = (f"run {run_id} did not record a checkpoint in S3 within {waited_minutes} min "
                 "of being asked. It keeps running (and costing); the guardrails stop it as "
                 "soon as the run records one. Check the run, or stop it yourself once its "
                 f"work is saved (aws ec2 stop-instances --instance-ids {instance_id})")
    else:
        cause = (f"{problem}. It keeps running (and costing): stop it yourself (aws ec2 "
                 f"stop-instances --instance-ids {instance_id})")
    text = (f"Cannot stop {instance_id} safely, action needed: {why(crossing)}, but {cause}. "
            f"{postpone_hint(instance_id)}.")
    return _message(instance_id, RULE_CANNOT_STOP, SEVERITY_HIGH,
                    f"cannot stop {instance_id} safely: action needed", text, at, crossing,
                    run_id=run_id)


def render_budget(run: Run, projected: Forecast, rate: Decimal | None,
                  at: datetime) -> AlertMessage:
    iid = run.instance_id
    pace = progress(run).seconds_per_epoch or 0.0
    text = (f"Run {run.run_id} on {iid} is forecast to cost {usd(projected.forecast_usd)} to "
            f"finish, over its {usd(run.budget_usd)} budget: {usd(projected.spent_usd)} spent "
            f"so far, {run.epoch} of {run.total_epochs} epochs at {pace:,.0f} s per epoch, "
            f"at {usd(rate)}/h. There is still time to act: stop it, shorten it, or move it "
            "to a cheaper instance.")
    body = {"instance_id": iid, "rule": RULE_RUN_BUDGET, "severity": SEVERITY_WARNING,
            "time": at.isoformat(), "run_id": run.run_id, "message": text,
            "budget_usd": float(run.budget_usd or 0),
            "spent_usd": None if projected.spent_usd is None else float(projected.spent_usd),
            "forecast_usd": float(projected.forecast_usd or 0)}
    return AlertMessage(f"[guardrails warning] run {run.run_id} will overrun its budget"
                        [:SUBJECT_LIMIT], body,
                        {"rule": RULE_RUN_BUDGET, "severity": SEVERITY_WARNING,
                         "instance_id": iid})
