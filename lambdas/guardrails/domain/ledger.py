"""Running intervals of one instance, built from its state transitions.

EC2 bills a running interval from `running` until `stopping` or `shutting-down` begins. The
ledger keeps every transition it has seen, sorted by event time, so an event that arrives late
still lands in the right place, and the same event twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Final

STATES: Final = ("pending", "running", "stopping", "stopped", "shutting-down", "terminated")
RUNNING: Final = "running"
_RANK: Final = {state: rank for rank, state in enumerate(STATES)}
_ENDS_INTERVAL: Final = frozenset({"stopping", "stopped", "shutting-down", "terminated"})
SECONDS_PER_HOUR: Final = Decimal(3600)
# Older transitions are folded into totals past this many, so the item stays small.
MAX_TRANSITIONS: Final = 200


@dataclass(frozen=True)
class Transition:
    at: datetime
    state: str
    # USD per hour of the interval a `running` transition opens; None when no price is known.
    rate: Decimal | None = None
    price_source: str | None = None

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.at, _RANK[self.state])


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime | None
    rate: Decimal | None

    def seconds(self, now: datetime) -> Decimal:
        end = self.end if self.end is not None else now
        return Decimal(str(round(max(0.0, (end - self.start).total_seconds()), 6)))

    def cost(self, now: datetime) -> Decimal | None:
        if self.rate is None:
            return None
        return self.seconds(now) * self.rate / SECONDS_PER_HOUR


@dataclass(frozen=True)
class Ledger:
    transitions: tuple[Transition, ...] = ()
    folded_seconds: Decimal = Decimal(0)
    # None once any folded interval had no known price: unknown never counts as $0.
    folded_cost: Decimal | None = Decimal(0)
    folded_until: datetime | None = None

    def knows(self, transition: Transition) -> bool:
        """True if this transition is already recorded, or older than what was folded away."""
        if self.folded_until is not None and transition.at <= self.folded_until:
            return True
        return any(t.order == transition.order for t in self.transitions)

    def apply(self, transition: Transition) -> Ledger | None:
        """The ledger with `transition` added, or None if it changes nothing."""
        if transition.state not in _RANK:
            raise ValueError(f"unknown state {transition.state!r}")
        if self.knows(transition):
            return None
        merged = tuple(sorted((*self.transitions, transition), key=lambda t: t.order))
        return replace(self, transitions=merged)._folded()

    @property
    def state(self) -> str | None:
        return self.transitions[-1].state if self.transitions else None

    @property
    def state_since(self) -> datetime | None:
        return self.transitions[-1].at if self.transitions else None

    @property
    def is_running(self) -> bool:
        return self.state == RUNNING

    def intervals(self) -> list[Interval]:
        """Running intervals in time order; the last one may be open (end None)."""
        found: list[Interval] = []
        opener: Transition | None = None
        for t in self.transitions:
            if t.state == RUNNING and opener is None:
                opener = t
            elif t.state in _ENDS_INTERVAL and opener is not None:
                found.append(Interval(opener.at, t.at, opener.rate))
                opener = None
        if opener is not None:
            found.append(Interval(opener.at, None, opener.rate))
        return found

    @property
    def open_interval(self) -> Interval | None:
        intervals = self.intervals()
        if intervals and intervals[-1].end is None:
            return intervals[-1]
        return None

    @property
    def current_rate(self) -> Decimal | None:
        interval = self.open_interval
        return interval.rate if interval else None

    def uptime_seconds(self, now: datetime) -> Decimal:
        return self.folded_seconds + sum((i.seconds(now) for i in self.intervals()), Decimal(0))

    def cost_usd(self, now: datetime) -> Decimal | None:
        total = self.folded_cost
        for interval in self.intervals():
            cost = interval.cost(now)
            if total is None or cost is None:
                return None
            total += cost
        return total

    def cost_between(self, start: datetime, end: datetime) -> Decimal | None:
        """USD of the running time between two moments; None if part of it had no known
        price, or lies in the folded past."""
        if self.folded_until is not None and start < self.folded_until:
            return None
        total = Decimal(0)
        for interval in self.intervals():
            overlap = Interval(max(start, interval.start),
                               min(end, interval.end or end), interval.rate)
            if overlap.end is None or overlap.end <= overlap.start:
                continue
            cost = overlap.cost(end)
            if cost is None:
                return None
            total += cost
        return total

    def _folded(self) -> Ledger:
        """Fold the oldest closed intervals into totals once the list grows past MAX_TRANSITIONS."""
        if len(self.transitions) <= MAX_TRANSITIONS:
            return self
        keep_from = len(self.transitions) - MAX_TRANSITIONS // 2
        # Only fold up to a transition that closes an interval, so no interval is split.
        while keep_from > 0 and self.transitions[keep_from - 1].state not in _ENDS_INTERVAL:
            keep_from -= 1
        if keep_from == 0:
            return self
        old = Ledger(self.transitions[:keep_from])
        cut = self.transitions[keep_from - 1].at
        old_cost = old.cost_usd(cut)
        return Ledger(
            transitions=self.transitions[keep_from:],
            folded_seconds=self.folded_seconds + old.uptime_seconds(cut),
            folded_cost=None if old_cost is None or self.folded_cost is None
            else self.folded_cost + old_cost,
            folded_until=cut,
        )
