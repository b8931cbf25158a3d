"""Which alerts are due now, and the exact moments the next ones will be.

Uptime and cost only grow while an instance runs, and they grow linearly within a running
interval, so the moment each threshold will be reached is known in advance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from guardrails.constants import RULE_COST, RULE_PRICE_UNKNOWN, RULE_RATE, RULE_UPTIME
from guardrails.domain.ledger import SECONDS_PER_HOUR, Ledger
from guardrails.domain.thresholds import Thresholds


@dataclass(frozen=True)
class Figures:
    uptime_hours: Decimal
    accumulated_usd: Decimal | None
    rate_usd_per_hour: Decimal | None


@dataclass(frozen=True)
class DueAlert:
    rule: str
    step: int
    # The level that was reached (hours, USD or USD/h); None for an unknown price.
    threshold: Decimal | None
    figures: Figures


@dataclass(frozen=True)
class Crossing:
    rule: str
    step: int
    level: Decimal
    at: datetime


def figures(ledger: Ledger, now: datetime) -> Figures:
    return Figures(
        uptime_hours=ledger.uptime_seconds(now) / SECONDS_PER_HOUR,
        accumulated_usd=ledger.cost_usd(now),
        rate_usd_per_hour=ledger.current_rate,
    )


def step_reached(value: Decimal, base: Decimal, step: Decimal) -> int | None:
    """Index of the highest escalation level (base, base+step, ...) that value has reached."""
    if value < base:
        return None
    if step <= 0:
        return 0
    return int((value - base) // step)


def due_alerts(
    ledger: Ledger, limits: Thresholds, now: datetime, alerted: Mapping[str, int]
) -> list[DueAlert]:
    """Alerts to send now: for each rule, the highest level reached that was not alerted yet."""
    if limits.exempt or not ledger.is_running:
        return []
    seen = figures(ledger, now)
    due: list[DueAlert] = []

    def consider(rule: str, step: int | None, threshold: Decimal | None) -> None:
        if step is not None and step > alerted.get(rule, -1):
            due.append(DueAlert(rule, step, threshold, seen))

    rate = seen.rate_usd_per_hour
    if rate is None:
        consider(RULE_PRICE_UNKNOWN, 0, None)
    elif rate > limits.max_hourly_usd:
        consider(RULE_RATE, 0, limits.max_hourly_usd)
    up = step_reached(seen.uptime_hours, limits.max_uptime_hours, limits.uptime_step_hours)
    if up is not None:
        consider(RULE_UPTIME, up, limits.max_uptime_hours + up * limits.uptime_step_hours)
    cost = seen.accumulated_usd
    if cost is not None:
        k = step_reached(cost, limits.max_accumulated_usd, limits.cost_step_usd)
        if k is not None:
            consider(RULE_COST, k, limits.max_accumulated_usd + k * limits.cost_step_usd)
    return due


def next_crossings(
    ledger: Ledger, limits: Thresholds, now: datetime, alerted: Mapping[str, int]
) -> list[Crossing]:
    """The next not-yet-reached uptime and cost levels, with the exact time each will be reached."""
    interval = ledger.open_interval
    if limits.exempt or interval is None:
        return []
    found: list[Crossing] = []
    uptime = ledger.uptime_seconds(now) / SECONDS_PER_HOUR
    found += _next(RULE_UPTIME, uptime, Decimal(1), limits.max_uptime_hours,
                   limits.uptime_step_hours, now, alerted)
    cost = ledger.cost_usd(now)
    if cost is not None and interval.rate:
        found += _next(RULE_COST, cost, interval.rate, limits.max_accumulated_usd,
                       limits.cost_step_usd, now, alerted)
    return found


def _next(
    rule: str,
    value: Decimal,
    per_hour: Decimal,
    base: Decimal,
    step: Decimal,
    now: datetime,
    alerted: Mapping[str, int],
) -> list[Crossing]:
    reached = step_reached(value, base, step)
    k = max(alerted.get(rule, -1), -1 if reached is None else reached) + 1
    if k > 0 and step <= 0:
        return []
    level = base + k * step
    hours = (level - value) / per_hour
    return [Crossing(rule, k, level, now + timedelta(seconds=float(hours * SECONDS_PER_HOUR)))]
