"""The ledger: running intervals, uptime and cost of one instance, from its state transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import permutations

import pytest

from guardrails.domain.ledger import MAX_TRANSITIONS, Ledger, Transition

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def at(hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def build(*transitions: Transition) -> Ledger:
    ledger = Ledger()
    for transition in transitions:
        applied = ledger.apply(transition)
        assert applied is not None, f"{transition} was unexpectedly ignored"
        ledger = applied
    return ledger


def run(start: datetime, end: datetime | None, rate: Decimal | None) -> list[Transition]:
    """One start/stop cycle as EC2 reports it."""
    cycle = [Transition(start - timedelta(seconds=20), "pending"),
             Transition(start, "running", rate, "test")]
    if end is not None:
        cycle += [Transition(end, "stopping"), Transition(end + timedelta(seconds=40), "stopped")]
    return cycle


def test_uptime_and_cost_add_up_every_running_interval_at_its_own_price() -> None:
    # Given two runs: 2 h at $1.50/h, then (after 3 h stopped) 1 h 30 min at $3/h
    ledger = build(*run(at(0), at(2), Decimal("1.5")), *run(at(5), at(6.5), Decimal("3")))

    # When the totals are read well after the second stop
    now = at(30)

    # Then only running time counts, each interval billed at the rate it opened with
    assert ledger.uptime_seconds(now) == Decimal(3.5 * 3600)
    assert ledger.cost_usd(now) == Decimal("7.5")  # 2 * 1.5 + 1.5 * 3
    assert [(i.start, i.end) for i in ledger.intervals()] == [(at(0), at(2)), (at(5), at(6.5))]
    assert ledger.state == "stopped"
    assert not ledger.is_running


def test_an_open_interval_counts_up_to_now() -> None:
    # Given an instance that ran 1 h earlier and is running again since 10:00 at $4/h
    ledger = build(*run(at(0), at(1), Decimal("4")), *run(at(2), None, Decimal("4")))

    # When the totals are read 2.5 h into the current run
    now = at(4.5)

    # Then the open interval counts until now, and the ledger says it is running at $4/h
    assert ledger.is_running
    assert ledger.open_interval is not None
    assert ledger.open_interval.start == at(2)
    assert ledger.current_rate == Decimal("4")
    assert ledger.uptime_seconds(now) == Decimal(3.5 * 3600)
    assert ledger.cost_usd(now) == Decimal("14")
    # and it keeps growing while the instance runs
    assert ledger.uptime_seconds(at(5.5)) == Decimal(4.5 * 3600)


def test_a_late_stopping_event_is_placed_by_its_event_time() -> None:
    # Given running at 08:00 and stopped at 10:00, but the `stopping` of 09:50 not yet seen
    ledger = build(Transition(at(0), "running", Decimal("6")), Transition(at(2), "stopped"))
    assert ledger.uptime_seconds(at(5)) == Decimal(2 * 3600)

    # When the `stopping` event arrives late
    late = ledger.apply(Transition(at(1, 50), "stopping"))

    # Then the interval ends when stopping began, and the latest state is still `stopped`
    assert late is not None
    assert late.uptime_seconds(at(5)) == Decimal(110 * 60)
    assert late.cost_usd(at(5)) == Decimal("11")  # 110 min at $6/h
    assert late.state == "stopped"
    assert late.state_since == at(2)


def test_arrival_order_does_not_change_the_totals() -> None:
    # Given the transitions of two runs
    transitions = [Transition(at(0), "running", Decimal("2")), Transition(at(1), "stopping"),
                   Transition(at(1, 1), "stopped"), Transition(at(3), "running", Decimal("2")),
                   Transition(at(4), "shutting-down")]

    # When they arrive in every possible order
    totals = {(build(*order).uptime_seconds(at(9)), build(*order).cost_usd(at(9)),
               build(*order).state) for order in permutations(transitions)}

    # Then every order gives the same ledger: 2 h, $4, ended in shutting-down
    assert totals == {(Decimal(7200), Decimal(4), "shutting-down")}


def test_the_same_transition_twice_changes_nothing() -> None:
    # Given a ledger that has seen a start and a stop
    ledger = build(Transition(at(0), "running", Decimal("1")), Transition(at(1), "stopped"))

    # When EventBridge delivers the start again (at-least-once delivery)
    again = ledger.apply(Transition(at(0), "running", Decimal("1")))

    # Then apply says there is nothing to record, and the ledger knows it
    assert again is None
    assert ledger.knows(Transition(at(0), "running"))
    assert not ledger.knows(Transition(at(0), "stopping"))


def test_an_unknown_price_makes_cost_unknown_but_uptime_still_counts() -> None:
    # Given 2 h at a known $3/h, then a run with no known price, still open
    ledger = build(*run(at(0), at(2), Decimal("3")), *run(at(3), None, None))

    # When the totals are read an hour into the unpriced run
    now = at(4)

    # Then uptime counts both runs, and the cost is unknown rather than $6 or $0
    assert ledger.uptime_seconds(now) == Decimal(3 * 3600)
    assert ledger.cost_usd(now) is None
    assert ledger.current_rate is None


def test_an_unpriced_run_alone_has_unknown_cost_not_zero() -> None:
    # Given a single running interval with no known price
    ledger = build(Transition(at(0), "running"))

    # When its cost is read
    cost = ledger.cost_usd(at(1))

    # Then it is unknown, never $0
    assert cost is None
    assert ledger.uptime_seconds(at(1)) == Decimal(3600)


def cycles(count: int, rate: Decimal | None, start: datetime = T0) -> list[Transition]:
    """`count` start/stop cycles of slightly varying lengths."""
    found: list[Transition] = []
    t = start
    for i in range(count):
        found += run(t, t + timedelta(seconds=3601 + 17 * i), rate)
        t += timedelta(hours=3)
    return found


# Rates whose per-second cost is a short decimal, so the sums are exact in either order.
@pytest.mark.parametrize("rate", [Decimal("3.6"), Decimal("0.036"), Decimal("32.4")])
def test_folding_old_transitions_keeps_the_totals_identical(rate: Decimal) -> None:
    # Given more start/stop cycles than the item may hold, and a run still open
    transitions = [*cycles(150, rate), *run(T0 + timedelta(hours=450), None, rate)]
    assert len(transitions) > MAX_TRANSITIONS

    # When they are applied one by one (folding as the list grows)
    folded = build(*transitions)
    unfolded = Ledger(tuple(transitions))

    # Then old intervals were folded into totals, and every figure is what it was unfolded
    assert folded.folded_until is not None
    assert len(folded.transitions) <= MAX_TRANSITIONS
    later = T0 + timedelta(hours=460)
    assert folded.uptime_seconds(later) == unfolded.uptime_seconds(later)
    assert folded.cost_usd(later) == unfolded.cost_usd(later)
    assert folded.state == unfolded.state == "running"
    assert folded.current_rate == rate


@pytest.mark.parametrize("rate", [Decimal("0.0416"), Decimal("1.234567"), Decimal("98.32")])
def test_folding_with_an_awkward_rate_agrees_to_far_below_a_cent(rate: Decimal) -> None:
    # Given many cycles at a rate whose per-second cost never terminates
    transitions = cycles(400, rate)

    # When they are applied one by one, folding several times
    folded = build(*transitions)
    unfolded = Ledger(tuple(transitions))

    # Then uptime is identical and cost agrees to 1e-12 USD (Decimal keeps 28 digits)
    later = T0 + timedelta(days=60)
    assert folded.uptime_seconds(later) == unfolded.uptime_seconds(later)
    folded_cost, unfolded_cost = folded.cost_usd(later), unfolded.cost_usd(later)
    assert folded_cost is not None and unfolded_cost is not None
    assert abs(folded_cost - unfolded_cost) < Decimal("1e-12")


def test_folding_an_unpriced_interval_keeps_the_cost_unknown() -> None:
    # Given one early run without a price, then many priced ones
    transitions = [*run(at(-10), at(-9), None), *cycles(60, Decimal("2"))]

    # When the unpriced run is folded away
    folded = build(*transitions)
    assert folded.folded_until is not None and folded.folded_until > at(-9)

    # Then the cost stays unknown (it never turns into $0), and uptime still counts that hour
    assert folded.cost_usd(at(1000)) is None
    assert folded.uptime_seconds(at(1000)) == Ledger(tuple(transitions)).uptime_seconds(at(1000))


def test_after_folding_transitions_older_than_the_fold_are_ignored() -> None:
    # Given a ledger that folded its oldest transitions away
    folded = build(*cycles(60, Decimal("2")))
    assert folded.folded_until is not None
    before = folded.uptime_seconds(at(1000))

    # When a late transition older than the fold arrives
    stale = Transition(folded.folded_until - timedelta(minutes=30), "stopping")

    # Then it is known already and changes nothing
    assert folded.knows(stale)
    assert folded.apply(stale) is None
    assert folded.uptime_seconds(at(1000)) == before


def test_an_unknown_state_is_refused() -> None:
    # Given any ledger
    ledger = Ledger()

    # When a transition to a state EC2 does not have is applied
    # Then it is refused with the state named
    with pytest.raises(ValueError, match="exploded"):
        ledger.apply(Transition(at(0), "exploded"))
