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

PRICE_UNKNOWN_LEVEL = Decimal(0)
# Crossings further away than this are not scheduled; the periodic sweep still sees them.
HORIZON_SECONDS = Decimal(366 * 24 * 3600)


@dataclass(frozen=True)
class Figures:
    uptime_hours: Decimal
    accumulated_usd: Decimal | None
    rate_usd_per_hour: Decimal | None


@dataclass(frozen=True)
class DueAlert:
    rule: str
    step: int
    # What deduplicates the alert: the uptime or cost level reached, the rate itself, or 0.
    level: Decimal
    # The limit that was passed (hours, USD or USD/h); None for an unknown price.
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


def first_step_above(alerted: Decimal | None, base: Decimal, step: Decimal) -> int | None:
    """Index of the first level strictly above the highest level already alerted."""
    if alerted is None or alerted < base:
        return 0
    if step <= 0:
        return None
    return int((alerted - base) // step) + 1


def due_alerts(
    ledger: Ledger, limits: Thresholds, now: datetime, alerted: Mapping[str, Decimal]
) -> list[DueAlert]:
    """Alerts to send now: for each rule, the highest level reached above the highest level
    already alerted. Levels, not step numbers, are compared, so raising a limit by tag still
    alerts at the new limit."""
    if limits.exempt or not ledger.is_running:
        return []
    seen = figures(ledger, now)
    due: list[DueAlert] = []

    def consider(rule: str, step: int | None, level: Decimal, threshold: Decimal | None) -> None:
        if step is not None and (rule not in alerted or level > alerted[rule]):
            due.append(DueAlert(rule, step, level, threshold, seen))

    rate = seen.rate_usd_per_hour
    if rate is None:
        consider(RULE_PRICE_UNKNOWN, 0, PRICE_UNKNOWN_LEVEL, None)
    elif rate > limits.max_hourly_usd:
        # The level is the rate itself: a dearer rate later (a resize) alerts again.
        consider(RULE_RATE, 0, rate, limits.max_hourly_usd)
    for rule, value, base, step in _accumulating(seen, limits):
        k = step_reached(value, base, step)
        if k is not None:
            consider(rule, k, base + k * step, base + k * step)
    return due


def next_crossings(
    ledger: Ledger, limits: Thresholds, now: datetime, alerted: Mapping[str, Decimal]
) -> list[Crossing]:
    """The next not-yet-alerted uptime and cost levels above the current figures, with the
    exact time each will be reached. Levels past HORIZON are left to the sweep."""
    interval = ledger.open_interval
    if limits.exempt or interval is None:
        return []
    seen = figures(ledger, now)
    per_hour = {RULE_UPTIME: Decimal(1), RULE_COST: interval.rate}
    found: list[Crossing] = []
    for rule, value, base, step in _accumulating(seen, limits):
        speed = per_hour[rule]
        if not speed:
            continue
        reached = step_reached(value, base, step)
        above = first_step_above(alerted.get(rule), base, step)
        if above is None or (reached is not None and step <= 0):
            continue
        k = max(above, -1 if reached is None else reached + 1)
        level = base + k * step
        hours = (level - value) / speed
        if hours * SECONDS_PER_HOUR > HORIZON_SECONDS:
            continue
        found.append(Crossing(rule, k, level, now + timedelta(seconds=float(
            hours * SECONDS_PER_HOUR))))
    return found


def _accumulating(seen: Figures, limits: Thresholds
                  ) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """(rule, current value, first level, step) of the rules that grow while running."""
    rules = [(RULE_UPTIME, seen.uptime_hours, limits.max_uptime_hours, limits.uptime_step_hours)]
    if seen.accumulated_usd is not None:
        rules.append((RULE_COST, seen.accumulated_usd, limits.max_accumulated_usd,
                      limits.cost_step_usd))
    return rules
