"""The reactive guards: a termination that went around the workflow gets a post-mortem, a
spot interruption warning asks the run to checkpoint, and protection lifted by hand alerts."""

from __future__ import annotations

import hashlib
import signal
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from guardrails.adapters.pricing import bundled_price
from tests.events import protection_change, spot_warning
from tests.integration.conftest import BUCKET, WORKFLOW_ROLE, Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
P4D_RATE = bundled_price("us-east-1", "p4d.24xlarge")
START = {"pid": 4242, "command": "python train.py", "total_epochs": 10}


def checkpoint(g: Guardrails, iid: str, run_id: str, epoch: int, at: datetime,
               in_s3: bool) -> str:
    path = f"/data/ckpt/epoch-{epoch}.pt"
    body = {"path": path, "epoch": epoch, "bytes": 1000 + epoch,
            "sha256": hashlib.sha256(path.encode()).hexdigest()}
    if in_s3:
        body["s3_uri"] = f"s3://{BUCKET}/{iid}/{run_id}/epoch-{epoch}.pt"
    status, answer = g.api("POST", f"/instances/{iid}/runs/{run_id}/checkpoints", body,
                           caller=iid, at=at)
    assert status == 201, answer
    return path


@pytest.fixture
def training(guardrails: Guardrails) -> tuple[str, str]:
    """A p4d training since T0: epoch 1 safe in S3 at +1 h, epoch 2 only on disk at +2 h,
    and a heartbeat at epoch 3 at +3 h."""
    g = guardrails
    iid = g.launch("p4d.24xlarge")
    g.state_change(iid, "running", T0)
    status, started = g.api("POST", f"/instances/{iid}/runs", START, caller=iid, at=T0)
    assert status == 201
    run_id = started["run"]["run_id"]
    checkpoint(g, iid, run_id, 1, T0 + timedelta(hours=1), in_s3=True)
    checkpoint(g, iid, run_id, 2, T0 + timedelta(hours=2), in_s3=False)
    status, _ = g.api("POST", f"/instances/{iid}/runs/{run_id}/heartbeat",
                      {"epoch": 3, "step": 0, "total": 10}, caller=iid,
                      at=T0 + timedelta(hours=3))
    assert status == 200
    return iid, run_id


def test_a_termination_around_the_workflow_gets_a_post_mortem(
    guardrails: Guardrails, training: tuple[str, str]
) -> None:
    g = guardrails
    iid, run_id = training
    assert P4D_RATE is not None
    # When the instance goes away without the workflow (a spot reclaim, a console click)
    g.state_change(iid, "shutting-down", T0 + timedelta(hours=4))
    g.state_change(iid, "terminated", T0 + timedelta(hours=4, minutes=1))
    # Then exactly one high alert says what was lost, from which epoch, at what cost
    [alert] = g.alerts_for(iid, "post-mortem")
    assert alert.attributes["severity"] == "high"
    body = alert.body
    assert body["lost_runs"] == [{"run_id": run_id, "epoch": 3}]
    assert body["lost_checkpoints"] == [{"path": "/data/ckpt/epoch-2.pt", "run_id": run_id,
                                         "epoch": 2}]
    assert body["last_epoch"] == 3 and body["last_safe_epoch"] == 1
    # 3 h of p4d since the epoch-1 checkpoint reached S3
    assert body["usd_since_last_safe_checkpoint"] == pytest.approx(
        float(P4D_RATE * Decimal(3)), abs=0.01)
    assert "epoch-2.pt" in body["message"]
    # And the run is released, so no stale-run alert follows for a process that is gone
    _, detail = g.api("GET", f"/instances/{iid}")
    assert detail["live_run"] is None


def test_nothing_lost_means_no_post_mortem(guardrails: Guardrails) -> None:
    g = guardrails
    iid = g.launch("g5.xlarge")
    g.state_change(iid, "running", T0)
    g.state_change(iid, "terminated", T0 + timedelta(hours=1))
    assert g.alerts_for(iid, "post-mortem") == []


def test_a_spot_warning_asks_the_run_to_checkpoint_and_uploads_local_ones(
    guardrails: Guardrails, training: tuple[str, str]
) -> None:
    g = guardrails
    iid, _ = training
    signals: list[tuple[int, int]] = []
    agent = g.instance_agent(iid, send_signal=lambda pid, sig: signals.append((pid, sig)))
    result = g.guard_event(spot_warning(iid, T0 + timedelta(hours=4)), T0 + timedelta(hours=4))
    assert signals == [(4242, signal.SIGUSR1)]
    sent = agent.commands_sent(iid)
    assert "kill -USR1 4242" in sent
    assert any(line.startswith("aws s3 cp /data/ckpt/epoch-2.pt") for line in sent)
    assert result["status"] == "spot-interruption"
    [alert] = g.alerts_for(iid, "spot-interruption")
    assert alert.attributes["severity"] == "high"
    assert "SIGUSR1" in alert.body["message"]


def test_a_spot_warning_without_ssm_says_nothing_could_be_saved(
    guardrails: Guardrails, training: tuple[str, str]
) -> None:
    g = guardrails
    iid, _ = training
    g.guard_event(spot_warning(iid, T0 + timedelta(hours=4)), T0 + timedelta(hours=4))
    [alert] = g.alerts_for(iid, "spot-interruption")
    assert "no agent online" in alert.body["message"]


def test_a_spot_warning_alerts_even_when_ssm_fails(
    guardrails: Guardrails, training: tuple[str, str]
) -> None:
    g = guardrails
    iid, _ = training
    g.instance_agent(iid, failing={"SendCommand"})
    g.guard_event(spot_warning(iid, T0 + timedelta(hours=4)), T0 + timedelta(hours=4))
    [alert] = g.alerts_for(iid, "spot-interruption")
    assert "could not ask it over SSM" in alert.body["message"]


def test_the_attribute_value_form_of_the_call_is_caught_too(
    guardrails: Guardrails, training: tuple[str, str]
) -> None:
    g = guardrails
    iid, _ = training
    at = T0 + timedelta(hours=4)
    event = protection_change(iid, at, disabled=True)
    event["detail"]["requestParameters"] = {"instanceId": iid,
                                            "attribute": "disableApiTermination",
                                            "value": "false"}
    assert g.guard_event(event, at)["status"] == "alerted"
    bogus = protection_change(iid, at, disabled=True)
    bogus["detail"]["requestParameters"]["instanceId"] = "i-; rm -rf /"
    before = g.items()
    assert g.guard_event(bogus, at)["status"] == "ignored"
    assert g.items() == before


def test_a_forced_termination_frees_the_run_without_a_post_mortem(
    guardrails: Guardrails, training: tuple[str, str]
) -> None:
    g = guardrails
    iid, _ = training
    status, _ = g.terminate(iid, at=T0 + timedelta(hours=4), force=True, reason="diverged")
    assert status == 200
    g.state_change(iid, "shutting-down", T0 + timedelta(hours=4, seconds=5))
    assert g.alerts_for(iid, "post-mortem") == []
    _, detail = g.api("GET", f"/instances/{iid}")
    assert detail["live_run"] is None  # no stale-run alert will follow for a gone process


def test_protection_removed_by_hand_alerts_but_not_by_the_guardrails(
    guardrails: Guardrails, training: tuple[str, str]
) -> None:
    g = guardrails
    iid, _ = training
    at = T0 + timedelta(hours=4)
    # The workflow's own role lifting it: silence
    assert g.guard_event(protection_change(iid, at, disabled=True, role_arn=WORKFLOW_ROLE),
                         at)["status"] == "ignored"
    # Turning it on, or a call that failed: silence
    assert g.guard_event(protection_change(iid, at, disabled=False), at)["status"] == "ignored"
    assert g.guard_event(protection_change(iid, at, disabled=True, error="AccessDenied"),
                         at)["status"] == "ignored"
    assert g.alerts_for(iid, "protection-removed") == []
    # A person turning it off: one high alert naming them
    event = protection_change(iid, at, disabled=True)
    assert g.guard_event(event, at)["status"] == "alerted"
    assert g.guard_event(event, at)["status"] == "ignored"  # a redelivery alerts once
    [alert] = g.alerts_for(iid, "protection-removed")
    assert alert.attributes["severity"] == "high"
    assert "user/christophe" in alert.body["message"]


@pytest.mark.parametrize("event", [
    None, [], {"detail-type": "Something Else"},
    {**spot_warning("i-0123456789abcdef0", T0), "detail": {"instance-id": "bogus"}},
    {**spot_warning("i-0123456789abcdef0", T0), "time": 1700000000},
    {**spot_warning("i-0123456789abcdef0", T0), "time": "2030-01-01T00:00:00Z"},
])
def test_malformed_guard_events_are_rejected_and_write_nothing(
    guardrails: Guardrails, event: object
) -> None:
    g = guardrails
    before = g.items()
    result = g.guard_event(event, T0)
    assert result["status"] == "rejected" and result["reason"]
    assert g.items() == before
