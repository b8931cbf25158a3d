"""Which alerts are due now, and when the next uptime and cost levels will be reached."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from guardrails.constants import RULE_COST, RULE_PRICE_UNKNOWN, RULE_RATE, RULE_UPTIME
from guardrails.domain.alerts import Crossing, DueAlert, due_alerts, next_crossings, step_reached
from guardrails.domain.ledger import Ledger, Transition
from guardrails.domain.thresholds import Thresholds

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
# 24 h of uptime, then every further 24 h; $10 accumulated, then every further $10; $5/h.
LIMITS = Thresholds(max_uptime_hours=Decimal(24), max_accumulated_usd=Decimal(10),
                    max_hourly_usd=Decimal(5), uptime_step_hours=Decimal(24),
                    cost_step_usd=Decimal(10))
EXEMPT = replace(LIMITS, exempt=True)
NOTHING_ALERTED: Mapping[str, Decimal] = {}


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def running_since(start: datetime, rate: Decimal | None) -> Ledger:
    return Ledger((Transition(start, "running", rate),))


def rules(alerts: list[DueAlert]) -> dict[str, int]:
    return {a.rule: a.step for a in alerts}


@pytest.mark.parametrize(
    ("value", "base", "step", "expected"),
    [
        ("9.99", "10", "10", None),   # below the first level: nothing reached
        ("10", "10", "10", 0),        # exactly at the first level: step 0
        ("19.99", "10", "10", 0),
        ("20", "10", "10", 1),        # exactly at base + step: step 1
        ("45", "10", "10", 3),
        ("1000", "10", "0", 0),       # no escalation: only ever step 0
        ("9", "10", "0", None),
    ],
)
def test_step_reached_is_the_highest_level_reached(
    value: str, base: str, step: str, expected: int | None
) -> None:
    # Given a value, a first level and an escalation step
    # When the level reached is computed
    reached = step_reached(Decimal(value), Decimal(base), Decimal(step))

    # Then it is the index of the highest level at or below the value
    assert reached == expected


def test_a_cost_alert_is_due_once_the_cost_reaches_the_limit() -> None:
    # Given an instance running at $2/h since T0 ($10 limit)
    ledger = running_since(T0, Decimal(2))

    # When it has run just under and then exactly 5 h
    before = due_alerts(ledger, LIMITS, at(4.99), NOTHING_ALERTED)
    exactly = due_alerts(ledger, LIMITS, at(5), NOTHING_ALERTED)

    # Then nothing is due before, and a step-0 cost alert at $10 is due at 5 h, with the figures
    assert before == []
    assert len(exactly) == 1
    alert = exactly[0]
    assert (alert.rule, alert.step, alert.threshold) == (RULE_COST, 0, Decimal(10))
    assert alert.figures.accumulated_usd == Decimal(10)
    assert alert.figures.uptime_hours == Decimal(5)
    assert alert.figures.rate_usd_per_hour == Decimal(2)


def test_a_step_already_alerted_is_not_alerted_again() -> None:
    # Given a $2/h instance at $12 whose cost step 0 was alerted
    ledger = running_since(T0, Decimal(2))

    # When the alerts are evaluated again
    due = due_alerts(ledger, LIMITS, at(6), {RULE_COST: Decimal(10)})

    # Then nothing is due until the next step is reached
    assert due == []
    # and the next step ($20) is due once reached
    assert rules(due_alerts(ledger, LIMITS, at(10), {RULE_COST: Decimal(10)})) == {RULE_COST: 1}


def test_only_the_highest_step_crossed_is_alerted() -> None:
    # Given a $2/h instance nobody was told about, now at 26 h and $52 (cost steps 0..4 crossed)
    ledger = running_since(T0, Decimal(2))

    # When the alerts are evaluated
    due = due_alerts(ledger, LIMITS, at(26), NOTHING_ALERTED)

    # Then one alert per rule, at the highest level reached: cost step 4 ($50), uptime step 0 (24 h)
    assert len(due) == 2
    by_rule = {a.rule: a for a in due}
    assert (by_rule[RULE_COST].step, by_rule[RULE_COST].threshold) == (4, Decimal(50))
    assert (by_rule[RULE_UPTIME].step, by_rule[RULE_UPTIME].threshold) == (0, Decimal(24))


def test_uptime_counts_every_running_interval() -> None:
    # Given 20 h of running yesterday, and a restart 3 h ago at $0.10/h
    ledger = Ledger((Transition(at(0), "running", Decimal("0.1")), Transition(at(20), "stopped"),
                     Transition(at(30), "running", Decimal("0.1"))))

    # When the alerts are evaluated
    due = due_alerts(ledger, LIMITS, at(34), NOTHING_ALERTED)

    # Then 24 h of total uptime is reached (20 + 4), though the current run is only 4 h old
    assert rules(due) == {RULE_UPTIME: 0}


def test_nothing_is_due_for_an_exempt_instance() -> None:
    # Given an exempt instance far past every limit ($50/h for 100 h)
    ledger = running_since(T0, Decimal(50))

    # When the alerts are evaluated
    due = due_alerts(ledger, EXEMPT, at(100), NOTHING_ALERTED)

    # Then nothing is due
    assert due == []


def test_nothing_is_due_for_a_stopped_instance() -> None:
    # Given an instance that ran past every limit and is now stopped
    ledger = Ledger((Transition(T0, "running", Decimal(50)), Transition(at(100), "stopped")))

    # When the alerts are evaluated
    due = due_alerts(ledger, LIMITS, at(101), NOTHING_ALERTED)

    # Then nothing is due: a stopped instance costs nothing more
    assert due == []


def test_an_unknown_price_is_alerted_once_and_uptime_still_alerts() -> None:
    # Given an instance running for 25 h with no known price
    ledger = running_since(T0, None)

    # When the alerts are evaluated, first and after price-unknown was alerted
    first = due_alerts(ledger, LIMITS, at(25), NOTHING_ALERTED)
    later = due_alerts(ledger, LIMITS, at(25),
                       {RULE_PRICE_UNKNOWN: Decimal(0), RULE_UPTIME: Decimal(24)})

    # Then price-unknown (no threshold) and uptime are due, no cost alert; then nothing again
    assert rules(first) == {RULE_PRICE_UNKNOWN: 0, RULE_UPTIME: 0}
    unknown = next(a for a in first if a.rule == RULE_PRICE_UNKNOWN)
    assert unknown.threshold is None
    assert unknown.figures.accumulated_usd is None
    assert later == []


@pytest.mark.parametrize(("rate", "alerted"), [("5", False), ("5.01", True), ("4.99", False)])
def test_the_hourly_rate_alerts_only_when_strictly_above_the_limit(
    rate: str, alerted: bool
) -> None:
    # Given an instance that just started at some rate ($5/h limit)
    ledger = running_since(T0, Decimal(rate))

    # When the alerts are evaluated a minute later
    due = due_alerts(ledger, LIMITS, at(1 / 60), NOTHING_ALERTED)

    # Then a rate alert (threshold $5/h) is due only above the limit
    if alerted:
        assert [(a.rule, a.step, a.threshold) for a in due] == [(RULE_RATE, 0, Decimal(5))]
    else:
        assert due == []


def crossing(found: list[Crossing], rule: str) -> Crossing:
    matches = [c for c in found if c.rule == rule]
    assert len(matches) == 1, found
    return matches[0]


def test_next_crossings_are_the_exact_moments_of_the_first_levels() -> None:
    # Given an instance started at T0 at $2/h ($10 and 24 h limits)
    ledger = running_since(T0, Decimal(2))

    # When the next crossings are computed at T0
    found = next_crossings(ledger, LIMITS, T0, NOTHING_ALERTED)

    # Then $10 is reached at T0+5h and 24 h of uptime at T0+24h
    assert crossing(found, RULE_COST) == Crossing(RULE_COST, 0, Decimal(10), at(5))
    assert crossing(found, RULE_UPTIME) == Crossing(RULE_UPTIME, 0, Decimal(24), at(24))
    assert len(found) == 2


def test_after_step_0_was_alerted_the_next_crossing_is_base_plus_step() -> None:
    # Given a $2/h instance whose $10 and 24 h alerts were sent
    ledger = running_since(T0, Decimal(2))

    # When the next crossings are computed right after each alert
    cost_next = next_crossings(ledger, LIMITS, at(5), {RULE_COST: Decimal(10)})
    uptime_next = next_crossings(ledger, LIMITS, at(24),
                                 {RULE_COST: Decimal(30), RULE_UPTIME: Decimal(24)})

    # Then the next levels are $20 at T0+10h and 48 h at T0+48h
    assert crossing(cost_next, RULE_COST) == Crossing(RULE_COST, 1, Decimal(20), at(10))
    assert crossing(uptime_next, RULE_UPTIME) == Crossing(RULE_UPTIME, 1, Decimal(48), at(48))


def test_next_crossings_account_for_earlier_runs() -> None:
    # Given 2 h at $2/h yesterday ($4, 2 h), and a restart at T0+20h at $3/h
    ledger = Ledger((Transition(T0, "running", Decimal(2)), Transition(at(2), "stopping"),
                     Transition(at(20), "running", Decimal(3))))

    # When the next crossings are computed at the restart
    found = next_crossings(ledger, LIMITS, at(20), NOTHING_ALERTED)

    # Then the remaining $6 takes 2 h at $3/h, and the remaining 22 h of uptime 22 h
    assert crossing(found, RULE_COST).at == at(22)
    assert crossing(found, RULE_UPTIME).at == at(42)


def test_a_level_reached_but_not_yet_alerted_is_not_scheduled_again() -> None:
    # Given a $2/h instance at $12 whose cost step 0 is due now (not alerted yet)
    ledger = running_since(T0, Decimal(2))

    # When the next crossings are computed
    found = next_crossings(ledger, LIMITS, at(6), NOTHING_ALERTED)

    # Then the next scheduled cost level is step 1 ($20 at T0+10h), never one in the past
    assert crossing(found, RULE_COST) == Crossing(RULE_COST, 1, Decimal(20), at(10))
    assert all(c.at > at(6) for c in found)


@pytest.mark.parametrize("rate", ["0.0416", "1.234567", "32.77"])
def test_at_each_announced_crossing_the_alert_is_due(rate: str) -> None:
    # Given an instance at an awkward rate
    ledger = running_since(T0, Decimal(rate))

    # When each next crossing is computed, and the alerts evaluated at that moment
    for found in next_crossings(ledger, LIMITS, T0, NOTHING_ALERTED):
        due = due_alerts(ledger, LIMITS, found.at + timedelta(microseconds=1), NOTHING_ALERTED)

        # Then that level is reached then (so the schedule fires no early)
        assert rules(due).get(found.rule) == found.step, found


def test_no_crossings_for_an_exempt_or_stopped_instance() -> None:
    # Given an exempt running instance, and a stopped one
    running = running_since(T0, Decimal(2))
    stopped = Ledger((Transition(T0, "running", Decimal(2)), Transition(at(1), "stopped")))

    # When the next crossings are computed
    # Then there are none to schedule
    assert next_crossings(running, EXEMPT, at(1), NOTHING_ALERTED) == []
    assert next_crossings(stopped, LIMITS, at(2), NOTHING_ALERTED) == []


def test_no_cost_crossing_when_the_rate_is_unknown() -> None:
    # Given an instance running without a known price
    ledger = running_since(T0, None)

    # When the next crossings are computed
    found = next_crossings(ledger, LIMITS, at(1), NOTHING_ALERTED)

    # Then only the uptime level is scheduled
    assert found == [Crossing(RULE_UPTIME, 0, Decimal(24), at(24))]


def test_without_escalation_nothing_follows_step_0() -> None:
    # Given thresholds with no escalation step, and step 0 of both rules alerted
    limits = replace(LIMITS, uptime_step_hours=Decimal(0), cost_step_usd=Decimal(0))
    ledger = running_since(T0, Decimal(2))

    # When the next crossings are computed past both levels
    found = next_crossings(ledger, limits, at(30),
                           {RULE_COST: Decimal(10), RULE_UPTIME: Decimal(24)})

    # Then nothing more is scheduled
    assert found == []


def test_raising_a_limit_after_its_alert_alerts_again_at_the_new_limit() -> None:
    # Given a $2/h instance whose $10 cost warning was sent, and no escalation steps
    limits = replace(LIMITS, cost_step_usd=Decimal(0))
    ledger = running_since(T0, Decimal(2))
    alerted = {RULE_COST: Decimal(10)}
    # When its owner raises its limit to $100 by tag, as the alert suggests
    raised = replace(limits, max_accumulated_usd=Decimal(100))

    # Then the $100 crossing is scheduled, and due once it is reached
    crossings = next_crossings(ledger, raised, at(6), alerted)
    assert [c for c in crossings if c.rule == RULE_COST] == [
        Crossing(RULE_COST, 0, Decimal(100), at(50))]
    assert RULE_COST not in rules(due_alerts(ledger, raised, at(49), alerted))
    [due] = [a for a in due_alerts(ledger, raised, at(50), alerted) if a.rule == RULE_COST]
    assert (due.rule, due.level, due.threshold) == (RULE_COST, Decimal(100), Decimal(100))


def test_a_dearer_rate_after_a_resize_alerts_again_a_cheaper_one_does_not() -> None:
    # Given the rate warning was sent at $8/h
    alerted = {RULE_RATE: Decimal(8)}
    # Then a restart at $12/h warns again, and one at $6/h does not
    assert rules(due_alerts(running_since(T0, Decimal(12)), LIMITS, at(0.1), alerted)) == {
        RULE_RATE: 0}
    assert rules(due_alerts(running_since(T0, Decimal(6)), LIMITS, at(0.1), alerted)) == {}


def test_a_crossing_further_than_a_year_away_is_left_to_the_sweep() -> None:
    # Given a tag set a limit so high that its crossing lies beyond any date Python can hold
    limits = replace(LIMITS, max_uptime_hours=Decimal("1e12"), max_accumulated_usd=Decimal(
        "1e12"))

    # Then nothing is scheduled, rather than an overflow
    assert next_crossings(running_since(T0, Decimal(2)), limits, at(1), NOTHING_ALERTED) == []
