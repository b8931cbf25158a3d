"""The pre-termination check against the real table (issue 4, first step)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guardrails.adapters.runs import RunStore
from guardrails.services.termination import check
from tests.integration.conftest import TABLE, Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
BODY = {"pid": 4242, "command": "python train.py", "total_epochs": 3}


def test_a_live_run_and_a_local_checkpoint_block_naming_both(guardrails: Guardrails) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    assert check(RunStore(TABLE), iid).outcome == "safe"
    _, started = g.api("POST", f"/instances/{iid}/runs", BODY, caller=iid, at=T0)
    run_id = started["run"]["run_id"]
    g.api("POST", f"/instances/{iid}/runs/{run_id}/checkpoints",
          {"path": "/data/e1.pt", "epoch": 1, "bytes": 1, "sha256": "c" * 64}, caller=iid)
    decision = check(RunStore(TABLE), iid)
    assert decision.outcome == "blocked"
    assert any(run_id in reason for reason in decision.reasons)
    assert any("/data/e1.pt" in reason for reason in decision.reasons)


def test_a_table_error_answers_unknown_never_safe(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: RunStore, instance_id: str) -> None:
        raise ConnectionError("DynamoDB unreachable")

    monkeypatch.setattr(RunStore, "collection", broken)
    decision = check(RunStore(TABLE), "i-0123456789abcdef0")
    assert decision.outcome == "unknown"
    assert "DynamoDB unreachable" in decision.reasons[0]
