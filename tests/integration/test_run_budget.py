"""Run budgets: a run at a known pace and rate alerts once, when its forecast to completion
first passes its budget (issue 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from guardrails.adapters.pricing import bundled_price
from tests.integration.conftest import Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
P4D_RATE = bundled_price("us-east-1", "p4d.24xlarge")


def test_a_run_alerts_once_when_its_forecast_first_passes_its_budget(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    assert P4D_RATE is not None
    iid = g.launch("p4d.24xlarge")
    g.state_change(iid, "running", T0)
    status, started = g.api("POST", f"/instances/{iid}/runs",
                            {"pid": 7, "command": "python train.py", "total_epochs": 10,
                             "budget_usd": 30}, caller=iid, at=T0)
    assert status == 201, started
    run_id = started["run"]["run_id"]

    def beat(epoch: int, minutes: int) -> None:
        status, _ = g.api("POST", f"/instances/{iid}/runs/{run_id}/heartbeat",
                          {"epoch": epoch, "step": 0, "total": 10}, caller=iid,
                          at=T0 + timedelta(minutes=minutes))
        assert status == 200

    # Epoch 1 after 6 min: 10 epochs take 1 h, about $22 at the p4d rate: within $30
    beat(1, 6)
    assert g.alerts_for(iid, "run-budget") == []
    # Epoch 2 after 20 min: the pace slowed to 10 min an epoch, 1 h 40 min in all: over
    beat(2, 20)
    [alert] = g.alerts_for(iid, "run-budget")
    expected = P4D_RATE * Decimal(5) / Decimal(3)
    assert alert.body["forecast_usd"] == pytest.approx(float(expected), abs=0.01)
    assert alert.body["spent_usd"] == pytest.approx(float(P4D_RATE / 3), abs=0.01)
    assert "still time to act" in alert.body["message"]
    # Later heartbeats, still over: no second alert
    beat(3, 36)
    beat(4, 50)
    assert len(g.alerts_for(iid, "run-budget")) == 1
    # The status shows spent, forecast and budget for the run
    _, detail = g.api("GET", f"/instances/{iid}", at=T0 + timedelta(minutes=50))
    [run] = detail["runs"]
    assert run["budget_usd"] == 30
    assert run["spent_usd"] == pytest.approx(float(P4D_RATE * Decimal(50) / 60), abs=0.01)
    assert run["forecast_usd"] > 30


def test_a_run_without_a_budget_never_alerts(guardrails: Guardrails) -> None:
    g = guardrails
    iid = g.launch("p4d.24xlarge")
    g.state_change(iid, "running", T0)
    _, started = g.api("POST", f"/instances/{iid}/runs",
                       {"pid": 7, "command": "python train.py", "total_epochs": 100},
                       caller=iid, at=T0)
    g.api("POST", f"/instances/{iid}/runs/{started['run']['run_id']}/heartbeat",
          {"epoch": 1, "step": 0, "total": 100}, caller=iid, at=T0 + timedelta(hours=1))
    assert g.alerts_for(iid, "run-budget") == []
