"""The sweep: reconciles what predates the stack, and costs nothing in a steady state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from guardrails.adapters import clients
from tests.integration.conftest import Guardrails

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "Publish",
          "CreateSchedule", "UpdateSchedule", "DeleteSchedule"}


@pytest.fixture
def calls(guardrails: Guardrails) -> Iterator[Counter[str]]:
    """AWS operations the product's own clients make, counted by name."""
    seen: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    for service in ("ec2", "dynamodb", "sns", "scheduler"):
        clients.client(service).meta.events.register("before-call", count)
    yield seen


def test_instances_running_before_the_stack_are_reconciled_then_left_alone(
    guardrails: Guardrails, calls: Counter[str]
) -> None:
    g = guardrails
    # Given two instances that were running before the stack existed (no events seen)
    p4d = g.launch("p4d.24xlarge")
    g5 = g.launch("g5.xlarge")
    launched = g.ec2.describe_instances(InstanceIds=[p4d])["Reservations"][0]["Instances"][0][
        "LaunchTime"]
    # When the first sweep runs an hour later
    result = g.run_sweep(launched + timedelta(hours=1))
    # Then both are recorded as running since their launch
    assert result["reconciled"] == 2
    assert g.record(p4d)["transitions"][0]["at"] == launched.isoformat()
    # And the p4d is warned for rate, and once for cost at the highest $10 step it passed
    # ($21.96 after an hour: step 1), not once per step it missed
    assert [(a.rule, a.body["step"]) for a in g.alerts()] == [("rate", 0), ("cost", 1)]
    assert set(g.schedules()) == {f"{p4d}-cost-2", f"{p4d}-uptime-0",
                                  f"{g5}-cost-0", f"{g5}-uptime-0"}

    # When the sweep runs again with nothing due
    calls.clear()
    result = g.run_sweep(launched + timedelta(hours=1, minutes=15))
    # Then it read (one DescribeInstances, one BatchGetItem, and one Query of the live-runs
    # index for silent runs) and wrote nothing
    assert result == {"status": "swept", "running": 2, "reconciled": 0, "alerts": []}
    assert calls == Counter({"DescribeInstances": 1, "BatchGetItem": 1, "Query": 1})
    assert not WRITES & set(calls)


def test_a_missed_stop_is_recorded_when_the_instance_schedule_fires(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge")
    launched = g.ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
        "LaunchTime"]
    g.state_change(iid, "running", launched)
    # Given the instance stopped, but the stop events were lost
    g.stop_in_ec2(iid)
    # When its uptime schedule fires
    g.fire_schedules(until=launched + timedelta(hours=25))
    # Then the stop is recorded, no warning is sent, and nothing stays scheduled
    assert g.record(iid)["state"] == "stopped"
    assert g.alerts_for(iid, "uptime") == []
    assert g.schedules() == {}


def test_one_failing_instance_does_not_stop_the_sweep_of_the_others(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guardrails.services import accounting
    from guardrails.services.sweeping import SweepIncomplete

    g = guardrails
    broken, fine = g.launch("p4d.24xlarge"), g.launch("p4d.24xlarge")
    launched = g.ec2.describe_instances(InstanceIds=[fine])["Reservations"][0]["Instances"][0][
        "LaunchTime"]
    real = accounting.reconcile_running

    def flaky(svc: Any, facts: Any, record: Any, now: Any) -> Any:
        if facts.instance_id == broken:
            raise RuntimeError("DynamoDB is having a bad day")
        return real(svc, facts, record, now)

    monkeypatch.setattr(accounting, "reconcile_running", flaky)
    # When the sweep meets one instance it cannot handle
    with pytest.raises(SweepIncomplete, match=broken):
        g.run_sweep(launched + timedelta(minutes=5))
    # Then the other instance was still checked and warned, and the failure is loud
    assert [a.rule for a in g.alerts_for(fine)] == ["rate"]
    assert g.alerts_for(broken) == []
