"""Lost events, failed sends, races and odd tags: the warnings still arrive, once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from guardrails.adapters import notifier
from guardrails.adapters.ec2 import Ec2
from guardrails.adapters.table import alert_key
from guardrails.handlers import sweep
from tests.integration.conftest import TABLE, Guardrails, LambdaContext

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def launch_time(g: Guardrails, instance_id: str) -> datetime:
    instance = g.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]
    launched: datetime = instance["LaunchTime"]
    return launched


def test_a_lost_running_event_after_a_late_pending_is_reconciled_by_the_sweep(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    iid = g.launch("p4d.24xlarge")
    launched = launch_time(g, iid)
    # Given `pending` was stamped a second after LaunchTime and `running` never arrived
    g.state_change(iid, "pending", launched + timedelta(seconds=1))
    # When the sweep runs
    g.run_sweep(launched + timedelta(minutes=15))
    # Then the instance is running in the ledger and warned like any other
    assert g.record(iid)["state"] == "running"
    assert [a.rule for a in g.alerts_for(iid)] == ["rate"]
    assert f"{iid}-cost-0" in g.schedules()


def test_a_retried_running_event_finishes_what_a_failed_send_left_undone(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    iid = g.launch("p4d.24xlarge")
    real_publish = notifier.Notifier.publish
    failures = iter([RuntimeError("SNS is throttling")])

    def flaky(self: notifier.Notifier, message: Any) -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return real_publish(self, message)

    monkeypatch.setattr(notifier.Notifier, "publish", flaky)
    # Given SNS fails while the running event is handled (Lambda will retry the event)
    with pytest.raises(RuntimeError, match="throttling"):
        g.state_change(iid, "running", T0)
    assert g.alerts_for(iid) == []
    # When Lambda retries the same event
    result = g.state_change(iid, "running", T0)
    # Then the transition is not recorded twice, but the alert and the schedules happen
    assert result["status"] == "unchanged"
    assert [a.rule for a in g.alerts_for(iid)] == ["rate"]
    assert {f"{iid}-cost-0", f"{iid}-uptime-0"} <= set(g.schedules())


def test_an_absurd_tag_limit_neither_crashes_nor_schedules(guardrails: Guardrails) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge", tags={"guardrails:max-uptime-hours": "1e12",
                                      "guardrails:max-accumulated-usd": "1e12"})
    assert g.state_change(iid, "running", T0)["status"] == "recorded"
    assert g.schedules() == {}
    assert g.run_sweep(T0 + timedelta(hours=48))["status"] == "swept"


def test_a_schedule_firing_while_the_instance_restarts_records_nothing(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    before = g.record(iid)
    # Given EC2 reports the instance as pending (restarting) when its uptime schedule fires
    real_describe = Ec2.describe

    def restarting(self: Ec2, instance_id: str) -> Any:
        facts = real_describe(self, instance_id)
        return replace(facts, state="pending")

    monkeypatch.setattr(Ec2, "describe", restarting)
    g.at(T0 + timedelta(hours=24))
    sweep.handler({"instance_id": iid, "rule": "uptime", "step": 0}, LambdaContext())
    # Then nothing is written: `pending` does not close an interval, its `running` will follow
    assert g.record(iid) == before
    assert g.alerts_for(iid, "uptime") == []


def test_an_alert_claimed_by_another_evaluation_counts_only_once_it_is_sent(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    # Given another evaluation has claimed the $10 cost alert and not sent it yet
    g.ddb.put_item(TableName=TABLE, Item={
        **alert_key(iid, "cost", "10"),
        "published": {"BOOL": False}})
    cost_at = T0 + timedelta(hours=10 / 1.006)
    # When this evaluation finds the crossing due
    g.run_sweep(cost_at + timedelta(minutes=5))
    # Then it neither sends it nor counts it as sent
    assert g.alerts_for(iid, "cost") == []
    assert "alerted_cost" not in g.record(iid)
    # And when the other evaluation fails and releases its claim, the next sweep sends it
    g.ddb.delete_item(TableName=TABLE, Key=alert_key(iid, "cost", "10"))
    g.run_sweep(cost_at + timedelta(minutes=20))
    assert [a.body["threshold"] for a in g.alerts_for(iid, "cost")] == [10]
