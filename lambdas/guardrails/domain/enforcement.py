"""Hard limits (issue 5): when an instance must be stopped, and what to do about it now.

A limit is crossed at a moment that is known in advance, like a warning's. The stop follows
a grace period that starts with an alert; a snooze postpones it. The decision is pure; the
service carries it out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Final

from guardrails.constants import (
    RULE_STOP_COST,
    RULE_STOP_IDLE,
    RULE_STOP_UPTIME,
    TAG_EXEMPT,
    TAG_IDLE_STOP_MINUTES,
    TAG_SNOOZE_UNTIL,
    TAG_STOP_AT_HOURS,
    TAG_STOP_AT_USD,
)
from guardrails.domain.alerts import HORIZON_SECONDS
from guardrails.domain.ledger import SECONDS_PER_HOUR, Ledger

WAIT: Final = "wait"  # the limit is not reached yet, or the grace has not run out
WARN: Final = "warn"  # reached: send the grace alert, the stop comes after the grace
SNOOZED: Final = "snoozed"
STOP: Final = "stop"


@dataclass(frozen=True)
class HardLimits:
    stop_at_usd: Decimal | None = None
    stop_at_hours: Decimal | None = None
    grace: timedelta = timedelta(minutes=15)
    max_snooze: timedelta = timedelta(hours=72)
    dry_run: bool = True
    exempt: bool = False
    snooze_until: datetime | None = None  # from the instance's tag
    idle_minutes: int | None = None
    idle_cpu_percent: Decimal = Decimal(5)

    @property
    def any(self) -> bool:
        return (self.stop_at_usd is not None or self.stop_at_hours is not None
                or self.idle_minutes is not None)


@dataclass(frozen=True)
class LimitCrossing:
    rule: str
    limit: Decimal
    at: datetime  # when the figure reaches the limit (now, if it already has)


@dataclass(frozen=True)
class Step:
    action: str
    crossing: LimitCrossing
    next_look: datetime | None = None  # when to look again (a schedule)


def limits_for(defaults: HardLimits, tags: Mapping[str, str],
               now: datetime) -> tuple[HardLimits, list[str]]:
    """The limits of one instance: tags override the stack's defaults. Each ignored tag is a
    problem line (the default applies)."""
    problems: list[str] = []
    chosen: dict[str, Decimal | None] = {"stop_at_usd": defaults.stop_at_usd,
                                         "stop_at_hours": defaults.stop_at_hours}
    for tag, field in ((TAG_STOP_AT_USD, "stop_at_usd"), (TAG_STOP_AT_HOURS, "stop_at_hours")):
        if tag in tags:
            value = _positive(tags[tag])
            if value is None:
                problems.append(f"tag {tag}={tags[tag]!r} ignored: it must be a positive "
                                "number")
            else:
                chosen[field] = value
    idle_minutes = defaults.idle_minutes
    if TAG_IDLE_STOP_MINUTES in tags:
        minutes = _positive(tags[TAG_IDLE_STOP_MINUTES])
        if minutes is None or minutes != minutes.to_integral_value():
            problems.append(f"tag {TAG_IDLE_STOP_MINUTES}={tags[TAG_IDLE_STOP_MINUTES]!r} "
                            "ignored: it must be a whole number of minutes")
        else:
            idle_minutes = int(minutes)
    snooze_until = None
    if TAG_SNOOZE_UNTIL in tags:
        snooze_until, problem = parse_snooze(tags[TAG_SNOOZE_UNTIL], now, defaults.max_snooze)
        if problem:
            problems.append(f"tag {TAG_SNOOZE_UNTIL} ignored: {problem}")
    exempt = tags.get(TAG_EXEMPT, "").strip().lower() == "true"
    return replace(defaults, stop_at_usd=chosen["stop_at_usd"],
                   stop_at_hours=chosen["stop_at_hours"], exempt=exempt,
                   snooze_until=snooze_until, idle_minutes=idle_minutes), problems


def parse_snooze(text: str, now: datetime, cap: timedelta) -> tuple[datetime | None, str]:
    """A snooze-until time, or None and why not."""
    try:
        until = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None, f"{text!r} is not an ISO 8601 time such as 2026-11-02T18:00:00Z"
    until = until if until.tzinfo else until.replace(tzinfo=UTC)
    if until > now + cap:
        return None, (f"{until.isoformat()} is more than the {_hours(cap)} h snooze cap "
                      "(max_snooze_hours) away")
    return until, ""


def crossings(ledger: Ledger, limits: HardLimits, now: datetime) -> list[LimitCrossing]:
    """Each enabled limit with the moment the instance reaches it, if it is running and the
    moment can be known (a cost limit needs a price)."""
    interval = ledger.open_interval
    if limits.exempt or interval is None:
        return []
    found: list[LimitCrossing] = []
    hours = ledger.uptime_seconds(now) / SECONDS_PER_HOUR
    cost = ledger.cost_usd(now)
    for rule, limit, value, per_hour in (
        (RULE_STOP_UPTIME, limits.stop_at_hours, hours, Decimal(1)),
        (RULE_STOP_COST, limits.stop_at_usd, cost, interval.rate),
    ):
        if limit is None or value is None:
            continue
        if value >= limit:
            found.append(LimitCrossing(rule, limit, now))
        elif per_hour:
            seconds = (limit - value) / per_hour * SECONDS_PER_HOUR
            if seconds <= HORIZON_SECONDS:  # further away: the sweep sees it in time
                found.append(LimitCrossing(rule, limit,
                                           now + timedelta(seconds=float(seconds))))
    return found


def idle(cpu_peak: float | None, gpu_peak: float | None, gpu_series: int,
         threshold: Decimal, covered: bool = True) -> bool:
    """Below the threshold for the whole window, on the CPU and on every GPU the agent
    reports. Missing data is not idle (`covered`: every series has data all through the
    window): a stop needs proof."""
    if not covered or cpu_peak is None or cpu_peak >= threshold:
        return False
    return not gpu_series or (gpu_peak is not None and gpu_peak < threshold)


def idle_crossing(limits: HardLimits, now: datetime) -> LimitCrossing:
    return LimitCrossing(RULE_STOP_IDLE, Decimal(limits.idle_minutes or 0), now)


def next_step(crossing: LimitCrossing, grace_started: datetime | None,
              limits: HardLimits, snooze_until: datetime | None, now: datetime) -> Step:
    """Where this limit stands now, and when to look again."""
    if crossing.at > now:
        return Step(WAIT, crossing, crossing.at)
    if snooze_until is not None and snooze_until > now:
        return Step(SNOOZED, crossing, snooze_until)
    if grace_started is None:
        return Step(WARN, crossing, now + limits.grace)
    if now < grace_started + limits.grace:
        return Step(WAIT, crossing, grace_started + limits.grace)
    return Step(STOP, crossing)


def grace_key(crossing: LimitCrossing, running_since: datetime,
              snooze_until: datetime | None, dry_run: bool) -> str:
    """One grace alert per limit, per start of the instance, per snooze that ended, per mode:
    a stop always comes `grace` after an alert that announced it, and an alert of the dry
    run never stands for a real stop."""
    snoozed = _stamp(snooze_until) if snooze_until else "-"
    mode = "dry" if dry_run else "live"
    return f"{crossing.rule}#{mode}#{_stamp(running_since)}#{snoozed}"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


MAX_LIMIT = Decimal(10) ** 9  # more is a typo, not a limit


def _positive(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() and 0 < value <= MAX_LIMIT else None


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g}"
