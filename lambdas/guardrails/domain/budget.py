"""Run budgets (issue 5): what a run has cost so far, and what it will cost to finish at its
pace, on this instance's rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from guardrails.domain.ledger import SECONDS_PER_HOUR, Ledger
from guardrails.domain.runs import Run, progress


@dataclass(frozen=True)
class Forecast:
    spent_usd: Decimal | None
    forecast_usd: Decimal | None  # None until the run has a pace and the rate is known
    budget_usd: Decimal | None

    @property
    def over_budget(self) -> bool:
        return (self.budget_usd is not None and self.forecast_usd is not None
                and self.forecast_usd > self.budget_usd)


def forecast(run: Run, ledger: Ledger | None, now: datetime) -> Forecast:
    """Spent: the instance's cost since the run started. Forecast: that, plus the remaining
    epochs at the run's pace (seconds per epoch) times the current rate."""
    if ledger is None or run.started_at is None:
        return Forecast(None, None, run.budget_usd)
    end = run.ended_at or now
    spent = ledger.cost_between(run.started_at, end)
    pace = progress(run).seconds_per_epoch
    rate = ledger.current_rate
    if spent is None or pace is None or run.ended_at is not None:
        return Forecast(spent, spent if run.ended_at else None, run.budget_usd)
    if rate is None:
        return Forecast(spent, None, run.budget_usd)
    remaining = Decimal(str(pace)) * max(0, run.total_epochs - run.epoch)
    return Forecast(spent, spent + remaining * rate / SECONDS_PER_HOUR, run.budget_usd)
