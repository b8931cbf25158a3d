"""Hard limits stop an instance at their crossing, after a grace alert, without losing a
run's work (issue 5)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from guardrails import constants as c
from guardrails.adapters.pricing import bundled_price
from guardrails.handlers import on_state_change, sweep
from tests.integration.conftest import BUCKET, Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
P4D_RATE = bundled_price("us-east-1", "p4d.24xlarge")
START = {"pid": 4242, "command": "python train.py", "total_epochs": 10}


def configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Set the functions' environment, and rebuild what they built from it."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    on_state_change.services.cache_clear()
    sweep.services.cache_clear()


@pytest.fixture
def enforcing(guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch) -> Iterator[Guardrails]:
    """Hard limits on (not a dry run): stop at $20 or 2 h, 15 min grace, 10 min checkpoint
    wait."""
    configure(monkeypatch, **{c.ENV_STOP_AT_USD: "20", c.ENV_STOP_AT_HOURS: "2",
                              c.ENV_ENFORCEMENT_DRY_RUN: "false",
                              c.ENV_STOP_GRACE_MINUTES: "15",
                              c.ENV_CHECKPOINT_WAIT_MINUTES: "10"})
    yield guardrails


def cost_crossing() -> datetime:
    assert P4D_RATE is not None
    return T0 + timedelta(hours=float(Decimal(20) / P4D_RATE))


def test_a_cost_limit_warns_then_stops_after_the_grace(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("p4d.24xlarge")
    g.state_change(iid, "running", T0)
    crossed = cost_crossing()
    # At the crossing: one grace alert, saying when and how to postpone; still running
    g.fire_schedules(until=crossed + timedelta(minutes=1))
    [grace] = g.alerts_for(iid, "stop-grace")
    assert "will be stopped at" in grace.body["message"]
    assert "guardctl snooze" in grace.body["message"]
    assert g.ec2_state(iid) == "running"
    # Fifteen minutes later it is stopped, audited, and said so
    g.fire_schedules(until=crossed + timedelta(minutes=17))
    assert g.ec2_state(iid) in ("stopping", "stopped")
    [stopped] = g.alerts_for(iid, "stopped")
    assert "no training run was live" in stopped.body["message"]
    assert [a["outcome"] for a in g.audits(iid)] == ["stopped"]
    assert len(g.alerts_for(iid, "stop-grace")) == 1


def test_a_live_run_is_stopped_only_after_its_new_checkpoint(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    signals: list[tuple[int, int]] = []
    g.instance_agent(iid, send_signal=lambda pid, sig: signals.append((pid, sig)))
    _, started = g.api("POST", f"/instances/{iid}/runs", START, caller=iid, at=T0)
    run_id = started["run"]["run_id"]
    g.fire_schedules(until=T0 + timedelta(hours=2, minutes=1))
    assert g.alerts_for(iid, "stop-grace")
    # At the end of the grace: the run is asked to checkpoint, and the stop waits
    g.fire_schedules(until=T0 + timedelta(hours=2, minutes=16))
    assert signals == [(4242, signal.SIGUSR1)]
    assert g.ec2_state(iid) == "running"
    # The agent records the new checkpoint with its S3 copy
    g.api("POST", f"/instances/{iid}/runs/{run_id}/checkpoints",
          {"path": "/data/epoch-7.pt", "epoch": 7, "bytes": 10, "sha256": "d" * 64,
           "s3_uri": f"s3://{BUCKET}/{iid}/{run_id}/epoch-7.pt"},
          caller=iid, at=T0 + timedelta(hours=2, minutes=16))
    g.fire_schedules(until=T0 + timedelta(hours=2, minutes=30))
    assert g.ec2_state(iid) in ("stopping", "stopped")
    [stopped] = [a for a in g.alerts_for(iid, "stopped") if a.body["action"] == "stopped"]
    assert "epoch 7" in stopped.body["message"]
    # Within two minutes of the checkpoint, not at the end of the 10-minute wait
    [stop] = [a for a in g.audits(iid) if a["outcome"] == "stopped"]
    assert datetime.fromisoformat(stop["at"]) <= T0 + timedelta(hours=2, minutes=18)


def test_no_checkpoint_in_time_means_no_stop_and_a_high_alert(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    g.instance_agent(iid, send_signal=lambda pid, sig: None)
    g.api("POST", f"/instances/{iid}/runs", START, caller=iid, at=T0)
    g.fire_schedules(until=T0 + timedelta(hours=3))
    assert g.ec2_state(iid) == "running"
    [alert] = g.alerts_for(iid, "cannot-stop")
    assert alert.attributes["severity"] == "high"
    assert "action needed" in alert.body["message"]
    g.run_sweep(T0 + timedelta(hours=3, minutes=15))
    assert len(g.alerts_for(iid, "cannot-stop")) == 1


def test_a_snooze_tag_delays_the_stop(enforcing: Guardrails) -> None:
    g = enforcing
    until = T0 + timedelta(hours=5)
    iid = g.launch("g5.xlarge", tags={c.TAG_SNOOZE_UNTIL: until.isoformat()})
    g.state_change(iid, "running", T0)
    g.fire_schedules(until=T0 + timedelta(hours=4))
    g.run_sweep(T0 + timedelta(hours=4, minutes=30))
    assert g.ec2_state(iid) == "running"
    assert g.alerts_for(iid, "stop-grace") == []
    # After the snooze, a new grace alert, then the stop
    g.run_sweep(until + timedelta(minutes=1))
    assert len(g.alerts_for(iid, "stop-grace")) == 1
    g.run_sweep(until + timedelta(minutes=17))
    assert g.ec2_state(iid) in ("stopping", "stopped")


def test_a_snooze_tag_beyond_the_cap_is_ignored(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("g5.xlarge", tags={
        c.TAG_SNOOZE_UNTIL: (T0 + timedelta(hours=200)).isoformat()})
    g.state_change(iid, "running", T0)
    g.fire_schedules(until=T0 + timedelta(hours=2, minutes=20))
    assert g.ec2_state(iid) in ("stopping", "stopped")


def test_exempt_instances_are_never_stopped(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("p4d.24xlarge", tags={c.TAG_EXEMPT: "true"})
    g.state_change(iid, "running", T0)
    g.fire_schedules(until=T0 + timedelta(hours=30))
    g.run_sweep(T0 + timedelta(hours=30))
    assert g.ec2_state(iid) == "running"
    assert g.alerts_for(iid) == []


def test_a_dry_run_changes_nothing_and_says_what_it_would_do(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    configure(monkeypatch, **{c.ENV_STOP_AT_HOURS: "2"})  # dry run is the default
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    g.fire_schedules(until=T0 + timedelta(hours=3))
    g.run_sweep(T0 + timedelta(hours=3, minutes=15))
    assert g.ec2_state(iid) == "running"
    [grace] = g.alerts_for(iid, "stop-grace")
    assert "dry run" in grace.body["message"]
    [would] = g.alerts_for(iid, "stopped")
    assert would.body["action"] == "would-stop" and would.body["dry_run"] is True
    assert "enforcement_dry_run=false" in would.body["message"]
    assert [a["outcome"] for a in g.audits(iid)] == ["would-stop"]


def test_a_snooze_over_the_api_delays_the_stop_and_is_audited(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    g.fire_schedules(until=T0 + timedelta(hours=2, minutes=1))
    assert len(g.alerts_for(iid, "stop-grace")) == 1
    # Within the grace, someone postpones it by 6 hours
    status, body = g.api("POST", f"/instances/{iid}/snooze",
                         {"hours": 6, "reason": "final eval running"},
                         at=T0 + timedelta(hours=2, minutes=5))
    assert status == 200, body
    assert body["snoozed_until"] == (T0 + timedelta(hours=8, minutes=5)).isoformat()
    g.fire_schedules(until=T0 + timedelta(hours=3))
    g.run_sweep(T0 + timedelta(hours=8))
    assert g.ec2_state(iid) == "running"
    [audit] = [a for a in g.audits(iid) if a["outcome"] == "snoozed"]
    assert audit["reason"] == "final eval running"
    # When it ends: a new grace alert, then the stop
    g.run_sweep(T0 + timedelta(hours=8, minutes=10))
    assert len(g.alerts_for(iid, "stop-grace")) == 2
    g.run_sweep(T0 + timedelta(hours=8, minutes=26))
    assert g.ec2_state(iid) in ("stopping", "stopped")


def test_a_snooze_beyond_the_cap_is_refused_with_a_clear_error(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    status, body = g.api("POST", f"/instances/{iid}/snooze",
                         {"hours": 100, "reason": "long weekend"}, at=T0)
    assert status == 422, body
    assert "72 h snooze cap" in body["message"] and "max_snooze_hours" in body["hint"]
    status, body = g.api("POST", f"/instances/{iid}/snooze", {"hours": 2}, at=T0)
    assert status == 422 and "reason" in body["message"]
    assert [a for a in g.audits(iid) if a["outcome"] == "snoozed"] == []


def put_utilization(g: Guardrails, iid: str, cpu: float, gpu: float | None,
                    start: datetime, minutes: int) -> None:
    """What EC2 and the CloudWatch agent publish, a datapoint a minute."""
    import boto3

    cloudwatch = boto3.client("cloudwatch", "us-east-1")
    for minute in range(minutes):
        at = start + timedelta(minutes=minute)
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=[{
            "MetricName": "CPUUtilization", "Timestamp": at, "Value": cpu,
            "Dimensions": [{"Name": "InstanceId", "Value": iid}]}])
        if gpu is not None:
            cloudwatch.put_metric_data(Namespace="CWAgent", MetricData=[{
                "MetricName": "nvidia_smi_utilization_gpu", "Timestamp": at, "Value": gpu,
                "Dimensions": [{"Name": "InstanceId", "Value": iid},
                               {"Name": "index", "Value": "0"}]}])


def test_an_idle_instance_is_stopped_after_its_grace_alert(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("g5.xlarge", tags={c.TAG_IDLE_STOP_MINUTES: "30"})
    g.state_change(iid, "running", T0)
    put_utilization(g, iid, cpu=1.0, gpu=0.0, start=T0, minutes=60)
    g.run_sweep(T0 + timedelta(minutes=20))  # not idle for the whole window yet
    assert g.alerts_for(iid, "stop-grace") == []
    g.run_sweep(T0 + timedelta(minutes=35))
    [grace] = g.alerts_for(iid, "stop-grace")
    assert "idle for 30 min" in grace.body["message"]
    g.fire_schedules(until=T0 + timedelta(minutes=51))
    assert g.ec2_state(iid) in ("stopping", "stopped")


def test_a_busy_gpu_keeps_an_instance_with_an_idle_cpu_running(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("g5.xlarge", tags={c.TAG_IDLE_STOP_MINUTES: "30"})
    g.state_change(iid, "running", T0)
    put_utilization(g, iid, cpu=1.0, gpu=97.0, start=T0, minutes=60)
    g.run_sweep(T0 + timedelta(minutes=35))
    g.run_sweep(T0 + timedelta(minutes=55))
    assert g.alerts_for(iid, "stop-grace") == []
    assert g.ec2_state(iid) == "running"


def test_no_metrics_is_not_idle(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("g5.xlarge", tags={c.TAG_IDLE_STOP_MINUTES: "30"})
    g.state_change(iid, "running", T0)
    g.run_sweep(T0 + timedelta(minutes=35))
    g.run_sweep(T0 + timedelta(minutes=55))
    assert g.ec2_state(iid) == "running"
    assert g.alerts_for(iid, "stop-grace") == []


def test_an_instance_busy_again_in_its_grace_is_not_stopped(enforcing: Guardrails) -> None:
    g = enforcing
    iid = g.launch("g5.xlarge", tags={c.TAG_IDLE_STOP_MINUTES: "30"})
    g.state_change(iid, "running", T0)
    put_utilization(g, iid, cpu=1.0, gpu=None, start=T0, minutes=36)
    put_utilization(g, iid, cpu=88.0, gpu=None, start=T0 + timedelta(minutes=36), minutes=20)
    g.run_sweep(T0 + timedelta(minutes=35))
    assert len(g.alerts_for(iid, "stop-grace")) == 1
    g.fire_schedules(until=T0 + timedelta(minutes=55))
    assert g.ec2_state(iid) == "running"


def test_a_tag_sets_a_limit_where_the_stack_has_none(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    configure(monkeypatch, **{c.ENV_ENFORCEMENT_DRY_RUN: "false"})
    limited = g.launch("p4d.24xlarge", tags={c.TAG_STOP_AT_USD: "20"})
    free = g.launch("p4d.24xlarge", tags={c.TAG_STOP_AT_USD: "lots"})  # ignored: no limit
    for iid in (limited, free):
        g.state_change(iid, "running", T0)
    g.fire_schedules(until=cost_crossing() + timedelta(minutes=17))
    g.run_sweep(cost_crossing() + timedelta(minutes=30))
    assert g.ec2_state(limited) in ("stopping", "stopped")
    assert g.ec2_state(free) == "running"


def writes_during(g: Guardrails, action: Callable[[], object]) -> list[str]:
    """The write calls the product makes while `action` runs."""
    from guardrails.adapters import clients

    seen: list[str] = []
    writes = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "Publish",
              "CreateSchedule", "UpdateSchedule", "DeleteSchedule", "StopInstances"}

    def note(model: object, **_: object) -> None:
        name = getattr(model, "name", "")
        if name in writes:
            seen.append(name)

    for service in ("dynamodb", "sns", "scheduler", "ec2"):
        clients.client(service).meta.events.register("before-parameter-build", note)
    try:
        action()
    finally:
        for service in ("dynamodb", "sns", "scheduler", "ec2"):
            clients.client(service).meta.events.unregister("before-parameter-build", note)
    return seen


def test_a_dry_run_over_its_limit_is_steady_after_it_has_said_so(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    configure(monkeypatch, **{c.ENV_STOP_AT_HOURS: "2"})
    iid = g.launch("g5.xlarge", tags={c.TAG_MAX_UPTIME_HOURS: "1000"})
    g.state_change(iid, "running", T0)
    g.fire_schedules(until=T0 + timedelta(hours=2, minutes=20))
    assert len(g.alerts_for(iid, "stopped")) == 1
    assert writes_during(g, lambda: g.run_sweep(T0 + timedelta(hours=2, minutes=30))) == []
    assert writes_during(g, lambda: g.run_sweep(T0 + timedelta(hours=2, minutes=45))) == []


def test_turning_dry_run_off_announces_the_stop_again_before_making_it(
    guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    configure(monkeypatch, **{c.ENV_STOP_AT_HOURS: "2"})
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    g.fire_schedules(until=T0 + timedelta(hours=2, minutes=20))  # dry: would stop
    monkeypatch.setenv(c.ENV_ENFORCEMENT_DRY_RUN, "false")
    sweep.services.cache_clear()
    g.run_sweep(T0 + timedelta(hours=3))
    assert g.ec2_state(iid) == "running"
    graces = g.alerts_for(iid, "stop-grace")
    assert [a.body["dry_run"] for a in graces] == [True, False]
    g.fire_schedules(until=T0 + timedelta(hours=3, minutes=16))
    assert g.ec2_state(iid) in ("stopping", "stopped")


def test_a_stop_ec2_refuses_is_reported_not_crashed(
    enforcing: Guardrails, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from guardrails.adapters import ec2

    g = enforcing

    def refused(instance_id: str) -> None:
        raise ClientError({"Error": {"Code": "UnsupportedOperation",
                                     "Message": "one-time spot instances cannot be stopped"}},
                          "StopInstances")

    monkeypatch.setattr(ec2, "stop", refused)
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    g.fire_schedules(until=T0 + timedelta(hours=2, minutes=20))
    [alert] = g.alerts_for(iid, "cannot-stop")
    assert "EC2 refused the stop" in alert.body["message"]
    assert [a["outcome"] for a in g.audits(iid)] == ["not-stopped"]


@pytest.mark.parametrize("value", ["100000000000", "1e999", "-3", "NaN"])
def test_an_absurd_limit_tag_is_ignored_not_a_crash(enforcing: Guardrails, value: str) -> None:
    g = enforcing
    iid = g.launch("g5.xlarge", tags={c.TAG_STOP_AT_HOURS: value, c.TAG_STOP_AT_USD: value})
    g.state_change(iid, "running", T0)
    g.run_sweep(T0 + timedelta(hours=1))
    assert g.ec2_state(iid) == "running"
