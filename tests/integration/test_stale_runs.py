"""A run that stops heartbeating is released by the sweep and alerted once; SSM, when the
instance has it, can confirm the process is still alive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from guardrails.adapters import clients, ssm
from tests.integration.conftest import Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
COMMAND_ID = "0b6d7f7a-2f0e-4c1a-9a55-3d2b8c1e9f00"
BODY = {"pid": 4242, "command": "python train.py", "total_epochs": 10}


@pytest.fixture
def trainer(guardrails: Guardrails) -> str:
    iid = guardrails.launch("g5.xlarge")
    guardrails.state_change(iid, "running", T0)
    return iid


def start(g: Guardrails, iid: str, **extra: Any) -> str:
    status, body = g.api("POST", f"/instances/{iid}/runs", {**BODY, **extra}, caller=iid, at=T0)
    assert status == 201
    return str(body["run"]["run_id"])


def beat(g: Guardrails, iid: str, run_id: str, at: datetime) -> int:
    status, _ = g.api("POST", f"/instances/{iid}/runs/{run_id}/heartbeat",
                      {"epoch": 1, "step": 1, "total": 10}, caller=iid, at=at)
    return status


def run_status(g: Guardrails, iid: str, run_id: str) -> str:
    _, detail = g.api("GET", f"/instances/{iid}")
    return str(next(r["status"] for r in detail["runs"] if r["run_id"] == run_id))


def test_a_silent_run_is_released_and_alerted_once(guardrails: Guardrails, trainer: str) -> None:
    g = guardrails
    run_id = start(g, trainer)
    assert beat(g, trainer, run_id, T0 + timedelta(minutes=5)) == 200
    # Then within the timeout (10 min since the last heartbeat) nothing happens
    g.run_sweep(T0 + timedelta(minutes=14))
    assert run_status(g, trainer, run_id) == "running"
    # When 10 minutes pass without a heartbeat (SSM is not available on this instance)
    g.run_sweep(T0 + timedelta(minutes=16))
    g.run_sweep(T0 + timedelta(minutes=31))
    # Then the run is stale, the instance is free, and one alert says so
    assert run_status(g, trainer, run_id) == "stale"
    [alert] = g.alerts_for(trainer, "stale-run")
    assert alert.body["run_id"] == run_id
    assert "no heartbeat" in alert.body["message"]
    assert start(g, trainer) != run_id
    # And a late heartbeat of the stale run is refused
    assert beat(g, trainer, run_id, T0 + timedelta(minutes=32)) == 409


def test_a_queued_run_starts_when_the_live_one_goes_stale(
    guardrails: Guardrails, trainer: str
) -> None:
    g = guardrails
    start(g, trainer)
    queued = start(g, trainer, queue=True)
    g.run_sweep(T0 + timedelta(minutes=11))
    assert run_status(g, trainer, queued) == "running"


def test_a_silent_run_whose_process_ssm_finds_alive_is_kept(
    guardrails: Guardrails, trainer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    run_id = start(g, trainer)
    asked: list[tuple[str, int]] = []

    def alive(instance_id: str, pid: int, timeout: float = 0) -> str:
        asked.append((instance_id, pid))
        return ssm.ALIVE

    monkeypatch.setattr(ssm, "pid_alive", alive)
    g.run_sweep(T0 + timedelta(minutes=30))
    assert asked == [(trainer, 4242)]
    assert run_status(g, trainer, run_id) == "running"
    assert g.alerts_for(trainer, "stale-run") == []


def test_a_silent_run_whose_process_ssm_finds_dead_is_released(
    guardrails: Guardrails, trainer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    run_id = start(g, trainer)
    monkeypatch.setattr(ssm, "pid_alive", lambda *_args, **_kw: ssm.DEAD)
    g.run_sweep(T0 + timedelta(minutes=30))
    assert run_status(g, trainer, run_id) == "stale"


@pytest.fixture
def ssm_api(guardrails: Guardrails, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(ssm, "POLL_SECONDS", 0)
    api = boto3.client("ssm", region_name="us-east-1")
    with Stubber(api) as stubber:
        clients.override("ssm", api)
        yield stubber


def online(stubber: Any, iid: str) -> None:
    stubber.add_response("describe_instance_information", {"InstanceInformationList": [
        {"InstanceId": iid, "PingStatus": "Online"}]},
        {"Filters": [{"Key": "InstanceIds", "Values": [iid]}]})
    stubber.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}})


@pytest.mark.parametrize(("status", "code", "expected"), [
    ("Success", 0, ssm.ALIVE), ("Failed", 1, ssm.DEAD), ("TimedOut", -1, ssm.UNKNOWN)])
def test_the_ssm_check_reads_ps_exit_status(
    ssm_api: Any, status: str, code: int, expected: str
) -> None:
    iid = "i-0123456789abcdef0"
    online(ssm_api, iid)
    ssm_api.add_response("get_command_invocation", {"Status": "InProgress"})
    ssm_api.add_response("get_command_invocation", {"Status": status, "ResponseCode": code})
    assert ssm.pid_alive(iid, 4242) == expected


def test_without_ssm_the_check_answers_unknown(ssm_api: Any) -> None:
    ssm_api.add_response("describe_instance_information", {"InstanceInformationList": []})
    assert ssm.pid_alive("i-0123456789abcdef0", 4242) == ssm.UNMANAGED


def test_an_unclear_ssm_answer_keeps_the_run(
    guardrails: Guardrails, trainer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    run_id = start(g, trainer)
    monkeypatch.setattr(ssm, "pid_alive", lambda *_args, **_kw: ssm.UNKNOWN)
    g.run_sweep(T0 + timedelta(minutes=30))
    assert run_status(g, trainer, run_id) == "running"


def test_a_heartbeat_that_arrives_during_the_check_keeps_the_run(
    guardrails: Guardrails, trainer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    run_id = start(g, trainer)

    def slow_check(*_args: Any, **_kw: Any) -> str:
        # While SSM is being asked, the run reports in.
        assert beat(g, trainer, run_id, T0 + timedelta(minutes=29)) == 200
        g.at(T0 + timedelta(minutes=30))
        return ssm.DEAD

    monkeypatch.setattr(ssm, "pid_alive", slow_check)
    g.run_sweep(T0 + timedelta(minutes=30))
    assert run_status(g, trainer, run_id) == "running"
    assert g.alerts_for(trainer, "stale-run") == []


def test_a_failed_stale_alert_still_frees_the_instance_and_promotes_the_queue(
    guardrails: Guardrails, trainer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guardrails.adapters.notifier import Notifier
    from guardrails.services.sweeping import SweepIncomplete

    g = guardrails
    start(g, trainer)
    queued = start(g, trainer, queue=True)

    def down(*_: Any) -> str:
        raise RuntimeError("SNS is down")

    monkeypatch.setattr(Notifier, "publish", down)
    with pytest.raises(SweepIncomplete):
        g.run_sweep(T0 + timedelta(minutes=11))
    assert run_status(g, trainer, queued) == "running"
