"""Alert text: a short subject, a JSON body for machines, and words that say what to do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from guardrails.constants import (
    RULE_COST,
    RULE_PRICE_UNKNOWN,
    RULE_RATE,
    RULE_STALE_RUN,
    RULE_UPTIME,
    SEVERITY_HIGH,
    SEVERITY_WARNING,
    TAG_EXEMPT,
    TAG_MAX_ACCUMULATED_USD,
    TAG_MAX_HOURLY_USD,
    TAG_MAX_UPTIME_HOURS,
)
from guardrails.domain.alerts import DueAlert
from guardrails.domain.instance import SPOT, InstanceFacts
from guardrails.domain.runs import Lock

SUBJECT_LIMIT = 100  # SNS rejects longer subjects


@dataclass(frozen=True)
class AlertMessage:
    subject: str
    body: dict[str, Any]
    attributes: dict[str, str]


def usd(value: Decimal | None) -> str:
    return "unknown" if value is None else f"${value:,.2f}"


def hours(value: Decimal) -> str:
    return f"{value:.1f} h"


def severity(alert: DueAlert) -> str:
    # A first crossing warns; a further step means the first warning went unheeded.
    return SEVERITY_HIGH if alert.step > 0 else SEVERITY_WARNING


def render(alert: DueAlert, facts: InstanceFacts, at: datetime) -> AlertMessage:
    f = alert.figures
    iid = facts.instance_id
    what = f"{iid} ({facts.instance_type}, {facts.lifecycle}, {facts.region})"
    stop = f"Stop it if it is idle: aws ec2 stop-instances --instance-ids {iid}"
    if alert.rule == RULE_RATE:
        headline = f"{iid} costs {usd(f.rate_usd_per_hour)}/h"
        text = (f"{what} costs {usd(f.rate_usd_per_hour)} per hour, over the "
                f"{usd(alert.threshold)}/h limit. {stop}. Expected? Tag it "
                f"{TAG_MAX_HOURLY_USD}=<usd> to raise its limit, or {TAG_EXEMPT}=true.")
    elif alert.rule == RULE_UPTIME:
        headline = f"{iid} has run {hours(f.uptime_hours)}"
        text = (f"{what} has been running for {hours(f.uptime_hours)} in total, past "
                f"{hours(alert.threshold or Decimal(0))}; it has cost {usd(f.accumulated_usd)}. "
                f"{stop}. Still training? Tag it {TAG_MAX_UPTIME_HOURS}=<hours> "
                f"or {TAG_EXEMPT}=true.")
    elif alert.rule == RULE_COST:
        headline = f"{iid} has cost {usd(f.accumulated_usd)}"
        text = (f"{what} has cost {usd(f.accumulated_usd)} so far, past "
                f"{usd(alert.threshold)}, at {usd(f.rate_usd_per_hour)}/h over "
                f"{hours(f.uptime_hours)}. {stop}. Expected? Tag it "
                f"{TAG_MAX_ACCUMULATED_USD}=<usd> or {TAG_EXEMPT}=true.")
    elif alert.rule == RULE_PRICE_UNKNOWN:
        headline = f"{iid}: price unknown"
        text = (f"No price is known for {facts.instance_type} ({facts.lifecycle}) in "
                f"{facts.region}, so cost warnings cannot fire for {iid}; uptime warnings "
                f"still do. {stop} when it is done. Expected? Tag it {TAG_EXEMPT}=true.")
    else:
        raise ValueError(f"unknown rule {alert.rule!r}")
    if facts.lifecycle == SPOT:
        text += (" It is a spot instance: EC2 may reclaim it at any time and it cannot have "
                 "termination protection, so keep its checkpoints in S3.")
    level = severity(alert)
    subject = f"[guardrails {level}] {headline}"[:SUBJECT_LIMIT]
    body: dict[str, Any] = {
        "instance_id": iid,
        "instance_type": facts.instance_type,
        "lifecycle": facts.lifecycle,
        "region": facts.region,
        "rule": alert.rule,
        "step": alert.step,
        "severity": level,
        "threshold": _number(alert.threshold),
        "figures": {
            "uptime_hours": _number(f.uptime_hours),
            "accumulated_usd": _number(f.accumulated_usd),
            "rate_usd_per_hour": _number(f.rate_usd_per_hour),
        },
        "time": at.isoformat(),
        "message": text,
    }
    return AlertMessage(subject, body, {"rule": alert.rule, "severity": level,
                                        "instance_id": iid})


def _number(value: Decimal | None) -> float | None:
    return None if value is None else round(float(value), 6)


def render_stale_run(instance_id: str, lock: Lock, timeout: timedelta,
                     at: datetime) -> AlertMessage:
    last = lock.heartbeat_at or lock.acquired_at
    silent_minutes = int((at - last).total_seconds() // 60)
    text = (f"Run {lock.run_id} (pid {lock.pid}) on {instance_id} sent no heartbeat for "
            f"{silent_minutes} min (limit {int(timeout.total_seconds() // 60)} min), and its "
            "process could not be confirmed alive. It is marked stale and the instance is free "
            "for the next run. If it is still training, it can no longer record progress: "
            f"check the instance, and stop it if it is idle (aws ec2 stop-instances "
            f"--instance-ids {instance_id}).")
    body: dict[str, Any] = {
        "instance_id": instance_id, "rule": RULE_STALE_RUN, "severity": SEVERITY_WARNING,
        "run_id": lock.run_id, "pid": lock.pid, "last_heartbeat": last.isoformat(),
        "time": at.isoformat(), "message": text,
    }
    subject = f"[guardrails warning] {instance_id}: run {lock.run_id} went silent"
    return AlertMessage(subject[:SUBJECT_LIMIT], body, {
        "rule": RULE_STALE_RUN, "severity": SEVERITY_WARNING, "instance_id": instance_id})
