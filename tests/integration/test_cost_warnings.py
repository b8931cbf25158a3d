"""Cost warnings fire on their own, on time, once: Given/When/Then on moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from guardrails.adapters.pricing import bundled_price
from tests.events import state_change
from tests.integration.conftest import Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
P4D_RATE = bundled_price("us-east-1", "p4d.24xlarge")
G5_RATE = bundled_price("us-east-1", "g5.xlarge")


def start(g: Guardrails, instance_id: str, at: datetime) -> None:
    g.state_change(instance_id, "pending", at - timedelta(seconds=20))
    g.state_change(instance_id, "running", at)


def stop(g: Guardrails, instance_id: str, at: datetime) -> None:
    g.stop_in_ec2(instance_id)
    g.state_change(instance_id, "stopping", at)
    g.state_change(instance_id, "stopped", at + timedelta(seconds=40))


def hours(h: Decimal | float) -> timedelta:
    return timedelta(seconds=float(Decimal(h) * 3600))


def test_p4d_is_warned_for_rate_at_once_then_cost_and_uptime_at_their_crossings_once_each(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    assert P4D_RATE is not None and P4D_RATE > 5
    # Given a p4d.24xlarge priced from the bundled table (the Pricing API is unreachable)
    iid = g.launch("p4d.24xlarge")
    # When it starts running
    start(g, iid, T0)
    # Then the rate warning arrives at once
    assert [a.rule for a in g.alerts_for(iid)] == ["rate"]
    rate_alert = g.alerts_for(iid, "rate")[0]
    assert rate_alert.attributes == {"rule": "rate", "severity": "warning", "instance_id": iid}
    assert rate_alert.body["figures"]["rate_usd_per_hour"] == float(P4D_RATE)
    # And the cost and uptime crossings are scheduled for their exact moments
    cost_at = T0 + hours(Decimal(10) / P4D_RATE)
    pending = g.schedules()
    assert timedelta(0) <= pending[f"{iid}-cost-0"] - cost_at < timedelta(minutes=1)
    assert pending[f"{iid}-uptime-0"] == T0 + timedelta(hours=24)

    # When a day passes: the schedules fire when due and the 15-minute sweep runs as well
    tick = T0
    while tick <= T0 + timedelta(hours=24, minutes=15):
        g.fire_schedules(until=tick)
        g.run_sweep(tick)
        tick += timedelta(minutes=15)

    # Then the first cost warning came at the minute that 10 / R hours gives, not before
    costs = g.alerts_for(iid, "cost")
    first = datetime.fromisoformat(costs[0].body["time"])
    assert cost_at <= first < cost_at + timedelta(seconds=60)
    assert costs[0].body["figures"]["accumulated_usd"] >= 10
    # And each further $10 step alerted exactly once, each at its own crossing
    expected_steps = int((24.25 * float(P4D_RATE) - 10) // 10) + 1
    assert [a.body["step"] for a in costs] == list(range(expected_steps))
    for alert in costs:
        crossing = T0 + hours((10 + Decimal(10) * alert.body["step"]) / P4D_RATE)
        sent = datetime.fromisoformat(alert.body["time"])
        assert crossing <= sent < crossing + timedelta(seconds=60)
    # And the uptime warning came once, at hour 24
    uptime = g.alerts_for(iid, "uptime")
    assert len(uptime) == 1
    assert datetime.fromisoformat(uptime[0].body["time"]) == T0 + timedelta(hours=24)
    assert uptime[0].body["figures"]["uptime_hours"] == 24
    # And the rate warning was not repeated
    assert len(g.alerts_for(iid, "rate")) == 1


def test_a_stop_start_cycle_keeps_uptime_and_cost(guardrails: Guardrails) -> None:
    g = guardrails
    assert G5_RATE is not None
    # Given a g5.xlarge that ran 6 hours, then was stopped for 4
    iid = g.launch("g5.xlarge")
    start(g, iid, T0)
    stop(g, iid, T0 + timedelta(hours=6))
    # When it starts again
    g.start_in_ec2(iid)
    restart = T0 + timedelta(hours=10)
    start(g, iid, restart)
    # Then the remaining budget is counted from where it stopped: 6 h and 6 x rate are kept
    spent = 6 * G5_RATE
    cost_at = restart + hours((10 - spent) / G5_RATE)
    pending = g.schedules()
    assert timedelta(0) <= pending[f"{iid}-cost-0"] - cost_at < timedelta(minutes=1)
    assert pending[f"{iid}-uptime-0"] == restart + timedelta(hours=18)
    # And when the cost warning fires, its figures add both intervals up
    g.fire_schedules(until=cost_at + timedelta(minutes=1))
    [cost] = g.alerts_for(iid, "cost")
    # (it fires in the minute after the crossing, so the figures are at most a minute on)
    assert 10 <= cost.body["figures"]["accumulated_usd"] < 10 + float(G5_RATE) / 60
    expected_uptime = 6 + float((10 - spent) / G5_RATE)
    assert expected_uptime <= cost.body["figures"]["uptime_hours"] < expected_uptime + 1 / 60


def test_a_replayed_event_changes_nothing(guardrails: Guardrails) -> None:
    g = guardrails
    iid = g.launch("p4d.24xlarge")
    start(g, iid, T0)
    items, alerts, pending = g.items(), g.alerts(), g.schedules()
    # When EventBridge delivers the same running event again
    result = g.state_change(iid, "running", T0)
    # Then nothing is written, sent or scheduled again
    assert result["status"] == "unchanged"
    assert g.items() == items
    assert g.alerts() == alerts
    assert g.schedules() == pending


def test_events_out_of_order_are_placed_by_event_time(guardrails: Guardrails) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge")
    start(g, iid, T0)
    g.stop_in_ec2(iid)
    # Given `stopped` arrives before the `stopping` that preceded it
    g.state_change(iid, "stopped", T0 + timedelta(hours=3))
    g.deliver(state_change(iid, "stopping", T0 + timedelta(hours=2, minutes=59)),
              at=T0 + timedelta(hours=4))
    # Then the interval ends when stopping began, by event time, not arrival time
    record = g.record(iid)
    assert record["state"] == "stopped"
    states = [t["state"] for t in record["transitions"]]
    assert states == ["pending", "running", "stopping", "stopped"]
    # And no schedule is left for a stopped instance
    assert g.schedules() == {}


def test_a_stopped_instance_is_never_warned(guardrails: Guardrails) -> None:
    g = guardrails
    # Given a g5.xlarge (under the rate limit) that ran one hour and was stopped
    iid = g.launch("g5.xlarge")
    start(g, iid, T0)
    assert set(g.schedules()) == {f"{iid}-cost-0", f"{iid}-uptime-0"}
    stop(g, iid, T0 + timedelta(hours=1))
    # Then its schedules are gone
    assert g.schedules() == {}
    # When sweeps run for two days
    for h in range(0, 48, 4):
        g.run_sweep(T0 + timedelta(hours=h))
    # Then it is never warned
    assert g.alerts_for(iid) == []


def test_the_exempt_tag_silences_an_instance_but_it_is_still_accounted(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    iid = g.launch("p4d.24xlarge", tags={"guardrails:exempt": "true"})
    start(g, iid, T0)
    g.run_sweep(T0 + timedelta(hours=30))
    assert g.alerts_for(iid) == []
    assert g.schedules() == {}
    assert g.record(iid)["state"] == "running"


def test_tags_override_the_thresholds(guardrails: Guardrails) -> None:
    g = guardrails
    assert P4D_RATE is not None
    iid = g.launch("p4d.24xlarge", tags={
        "guardrails:max-hourly-usd": "50",
        "guardrails:max-uptime-hours": "2",
        "guardrails:max-accumulated-usd": "100",
    })
    start(g, iid, T0)
    # The p4d is under its own $50/h limit, so no rate warning
    assert g.alerts_for(iid) == []
    pending = g.schedules()
    assert pending[f"{iid}-uptime-0"] == T0 + timedelta(hours=2)
    cost_at = T0 + hours(Decimal(100) / P4D_RATE)
    assert timedelta(0) <= pending[f"{iid}-cost-0"] - cost_at < timedelta(minutes=1)
    g.fire_schedules(until=T0 + timedelta(hours=2))
    [uptime] = g.alerts_for(iid, "uptime")
    assert uptime.body["threshold"] == 2


def test_an_unreadable_tag_falls_back_to_the_default(guardrails: Guardrails) -> None:
    g = guardrails
    iid = g.launch("p4d.24xlarge", tags={"guardrails:max-hourly-usd": "lots"})
    start(g, iid, T0)
    [rate] = g.alerts_for(iid, "rate")
    assert rate.body["threshold"] == 5


def test_an_unknown_instance_type_is_alerted_once_and_never_costs_zero(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    # Given a type that neither the Pricing API (unreachable) nor the bundled table knows
    iid = g.launch("t3.micro")
    start(g, iid, T0)
    [unknown] = g.alerts_for(iid)
    assert unknown.rule == "price-unknown"
    assert unknown.body["figures"]["accumulated_usd"] is None
    assert "t3.micro" in unknown.body["message"]
    # Then only uptime can be predicted; cost is never computed as $0
    assert set(g.schedules()) == {f"{iid}-uptime-0"}
    g.run_sweep(T0 + timedelta(hours=25))
    rules = [a.rule for a in g.alerts_for(iid)]
    assert rules == ["price-unknown", "uptime"]
    assert g.alerts_for(iid, "uptime")[0].body["figures"]["accumulated_usd"] is None


def test_a_schedule_that_finds_nothing_due_schedules_the_next_crossing(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge")
    start(g, iid, T0)
    # Given the owner raised the uptime limit after the start
    g.ec2.create_tags(Resources=[iid], Tags=[
        {"Key": "guardrails:max-uptime-hours", "Value": "30"}])
    # When the old 24 h schedule fires
    g.fire_schedules(until=T0 + timedelta(hours=24))
    # Then nothing is sent, and the crossing at the new limit is scheduled
    assert g.alerts_for(iid, "uptime") == []
    assert g.schedules()[f"{iid}-uptime-0"] == T0 + timedelta(hours=30)
