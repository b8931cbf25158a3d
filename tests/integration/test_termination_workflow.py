"""The pre-termination workflow, executed by moto's Step Functions with its tasks dispatched
to the real handlers, driven through POST /instances/{id}/terminate."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import BUCKET, Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
START = {"pid": 4242, "command": "python train_with_checkpoints.py --epochs 5",
         "total_epochs": 5}


@pytest.fixture
def instance(guardrails: Guardrails) -> str:
    iid = guardrails.launch("g5.xlarge")
    guardrails.state_change(iid, "running", T0)
    return iid


def start_run(g: Guardrails, iid: str, at: datetime = T0) -> str:
    status, body = g.api("POST", f"/instances/{iid}/runs", START, caller=iid, at=at)
    assert status == 201, body
    return str(body["run"]["run_id"])


def local_checkpoint(g: Guardrails, iid: str, run_id: str, path: Path, epoch: int,
                     content: bytes | None = None) -> str:
    """A checkpoint file on the "instance", recorded but not in S3. Returns its sha256."""
    path.write_bytes(content if content is not None else f"weights {epoch}".encode() * 100)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    status, body = g.api("POST", f"/instances/{iid}/runs/{run_id}/checkpoints",
                         {"path": str(path), "epoch": epoch, "bytes": path.stat().st_size,
                          "sha256": sha}, caller=iid)
    assert status == 201, body
    return sha


def finish(g: Guardrails, iid: str, run_id: str) -> None:
    status, body = g.api("POST", f"/instances/{iid}/runs/{run_id}/finish",
                         {"status": "finished"}, caller=iid)
    assert status == 200, body


def test_no_runs_and_no_checkpoints_terminates_with_an_audit(
    guardrails: Guardrails, instance: str
) -> None:
    g = guardrails
    # When an engineer terminates an instance that holds nothing
    status, body = g.terminate(instance, at=T0 + timedelta(hours=1))
    # Then it is terminated, with the audit id, and a notice went out
    assert status == 200, body
    assert body["status"] == "terminated"
    assert g.ec2_state(instance) in ("shutting-down", "terminated")
    [audit] = g.audits(instance)
    assert audit["outcome"] == "terminated"
    assert audit["caller"].endswith("/ml-engineer")
    assert body["audit_id"] in audit["sk"]
    [notice] = g.alerts_for(instance, "termination")
    assert notice.attributes["severity"] == "info"


def test_a_live_run_blocks_naming_it_and_the_instance_keeps_running(
    guardrails: Guardrails, instance: str
) -> None:
    g = guardrails
    run_id = start_run(g, instance)
    status, body = g.terminate(instance, at=T0 + timedelta(hours=1))
    assert status == 409, body
    assert body["error"] == "termination_blocked"
    assert any(run_id in reason and "is live" in reason for reason in body["reasons"])
    assert "stop-instances" in body["hint"]
    assert g.ec2_state(instance) == "running"
    [audit] = g.audits(instance)
    assert audit["outcome"] == "blocked" and run_id in audit["detail"]


def test_checkpoints_not_in_s3_block_and_upload_makes_it_safe(
    guardrails: Guardrails, instance: str, tmp_path: Path
) -> None:
    g = guardrails
    agent = g.instance_agent(instance, polls_in_progress=2)
    run_id = start_run(g, instance)
    shas = {e: local_checkpoint(g, instance, run_id, tmp_path / f"epoch-{e}.pt", e)
            for e in (1, 2)}
    finish(g, instance, run_id)
    # A plain terminate is blocked, naming each checkpoint and suggesting the upload
    status, blocked = g.terminate(instance, at=T0 + timedelta(hours=1))
    assert status == 409, blocked
    assert any(str(tmp_path / "epoch-2.pt") in r for r in blocked["reasons"])
    assert "upload_checkpoints=true" in blocked["hint"]
    assert g.ec2_state(instance) == "running"
    # With upload_checkpoints the workflow copies, verifies, rechecks and terminates
    status, done = g.terminate(instance, at=T0 + timedelta(hours=2), upload_checkpoints=True)
    assert status == 200, done
    assert g.ec2_state(instance) in ("shutting-down", "terminated")
    assert any(line.startswith("aws s3 cp") for line in agent.commands_sent(instance))
    for epoch, sha in shas.items():
        key = f"{instance}/{run_id}/epoch-{epoch}.pt"
        head = g.s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        assert base64.b64decode(head["ChecksumSHA256"]).hex() == sha
    _, detail = g.api("GET", f"/instances/{instance}")
    assert all(c["s3_uri"].startswith(f"s3://{BUCKET}/") for c in detail["checkpoints"])
    assert [a["outcome"] for a in sorted(g.audits(instance), key=lambda a: a["sk"])] == [
        "blocked", "terminated"]


def test_a_checkpoint_changed_on_disk_since_it_was_recorded_is_not_uploaded_as_it(
    guardrails: Guardrails, instance: str, tmp_path: Path
) -> None:
    g = guardrails
    g.instance_agent(instance)
    run_id = start_run(g, instance)
    path = tmp_path / "epoch-1.pt"
    local_checkpoint(g, instance, run_id, path, 1, content=b"A" * 4096)
    finish(g, instance, run_id)
    path.write_bytes(b"B" * 4096)  # same size, other bytes: only the sha256 can tell
    status, body = g.terminate(instance, at=T0 + timedelta(hours=1), upload_checkpoints=True)
    assert status == 409, body
    assert any("sha256" in r and "epoch-1.pt" in r for r in body["reasons"])
    assert g.ec2_state(instance) == "running"
    assert "Contents" not in g.s3.list_objects_v2(Bucket=BUCKET)


def test_an_instance_the_guardrails_never_saw_is_not_terminated_unless_forced(
    guardrails: Guardrails,
) -> None:
    g = guardrails
    stranger = g.launch("g5.xlarge")  # no state change reached the guardrails
    status, body = g.terminate(stranger, at=T0)
    assert status == 409, body
    assert "not tracked" in body["message"]
    assert g.ec2_state(stranger) == "running"
    status, body = g.terminate(stranger, at=T0, force=True, reason="a stray test box")
    assert status == 200, body


def test_force_with_upload_keeps_the_checkpoints_before_terminating(
    guardrails: Guardrails, instance: str, tmp_path: Path
) -> None:
    g = guardrails
    g.instance_agent(instance)
    run_id = start_run(g, instance)
    local_checkpoint(g, instance, run_id, tmp_path / "epoch-1.pt", 1)
    # The run is still live: force, but keep what it saved
    status, body = g.terminate(instance, at=T0 + timedelta(hours=1), force=True,
                               reason="the run hangs", upload_checkpoints=True)
    assert status == 200, body
    g.s3.head_object(Bucket=BUCKET, Key=f"{instance}/{run_id}/epoch-1.pt")
    assert g.ec2_state(instance) in ("shutting-down", "terminated")


def test_a_run_that_starts_after_the_recheck_stops_the_termination(
    guardrails: Guardrails, instance: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guardrails.domain.termination import TerminationDecision
    from guardrails.services import termination as steps

    g = guardrails
    start_run(g, instance)
    # Both checks miss the run (it "starts" right after them); the audit write still sees it
    monkeypatch.setattr(steps, "check", lambda store, iid: TerminationDecision("safe"))
    status, body = g.terminate(instance, at=T0)
    assert status == 502, body
    assert "a run started" in body["message"] and "not terminated" in body["message"]
    assert g.ec2_state(instance) == "running"


def test_a_terminate_step_retried_after_ec2_acted_reports_terminated(
    guardrails: Guardrails, instance: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guardrails.adapters import ec2

    g = guardrails
    real = ec2.terminate

    def terminated_then_lost_the_answer(instance_id: str) -> None:
        real(instance_id)
        raise ConnectionError("connection reset after TerminateInstances")

    monkeypatch.setattr(ec2, "terminate", terminated_then_lost_the_answer)
    status, body = g.terminate(instance, at=T0)
    assert status == 200, body
    assert {a["outcome"] for a in g.audits(instance)} == {"terminated"}


def test_force_needs_a_reason(guardrails: Guardrails, instance: str) -> None:
    g = guardrails
    start_run(g, instance)
    for body in ({"force": True}, {"force": True, "reason": "   "}):
        status, answer = g.terminate(instance, at=T0, **body)
        assert status == 422, answer
        assert "reason" in answer["message"]
    assert g.ec2_state(instance) == "running"
    assert g.audits(instance) == []


def test_force_with_a_reason_terminates_audited_with_a_high_notice(
    guardrails: Guardrails, instance: str
) -> None:
    g = guardrails
    run_id = start_run(g, instance)
    status, body = g.terminate(instance, at=T0 + timedelta(hours=1), force=True,
                               reason="the run diverged; results are useless")
    assert status == 200, body
    assert body["forced"] is True
    assert g.ec2_state(instance) in ("shutting-down", "terminated")
    [audit] = g.audits(instance)
    assert audit["force"] is True and audit["reason"] == "the run diverged; results are useless"
    assert any(run_id in r for r in audit["overridden"])
    [notice] = g.alerts_for(instance, "termination")
    assert notice.attributes["severity"] == "high"
    # The forced termination was the workflow's own: no post-mortem follows its event
    g.state_change(instance, "shutting-down", T0 + timedelta(hours=1, minutes=1))
    assert g.alerts_for(instance, "post-mortem") == []


def test_the_poll_route_reads_an_execution_and_refuses_a_foreign_one(
    guardrails: Guardrails, instance: str
) -> None:
    g = guardrails
    status, body = g.terminate(instance, at=T0)
    assert status == 200
    status, again = g.api("GET", f"/instances/{instance}/terminations/{body['execution']}")
    assert status == 200 and again["status"] == "terminated"
    other = g.launch("g5.xlarge")
    status, refused = g.api("GET", f"/instances/{other}/terminations/{body['execution']}")
    assert status == 404, refused


def fault_table(g: Guardrails, monkeypatch: pytest.MonkeyPatch) -> None:
    from guardrails.adapters.runs import RunStore

    def broken(self: Any, instance_id: str) -> None:
        raise ConnectionError("DynamoDB unreachable")

    monkeypatch.setattr(RunStore, "collection", broken)


def fault_ssm(g: Guardrails, monkeypatch: pytest.MonkeyPatch) -> None:
    g.instance_agent(*g.known, failing={"SendCommand"})


def fault_s3_head(g: Guardrails, monkeypatch: pytest.MonkeyPatch) -> None:
    from guardrails.adapters import s3

    def broken(uri: str) -> None:
        raise ConnectionError("S3 unreachable")

    monkeypatch.setattr(s3, "head", broken)


def fault_terminate(g: Guardrails, monkeypatch: pytest.MonkeyPatch) -> None:
    from guardrails.adapters import ec2

    def broken(instance_id: str) -> None:
        raise ConnectionError("EC2 TerminateInstances failed")

    monkeypatch.setattr(ec2, "terminate", broken)


@pytest.mark.parametrize(("fault", "status", "said"), [
    (fault_table, 409, "could not determine whether it is safe: ConnectionError"),
    (fault_ssm, 502, "injected SendCommand failure"),
    (fault_s3_head, 409, "could not be read back (ConnectionError: S3 unreachable)"),
    (fault_terminate, 502, "EC2 TerminateInstances failed"),
])
def test_a_fault_at_any_step_never_terminates_an_unsafe_instance(
    guardrails: Guardrails, instance: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    fault: Any, status: int, said: str
) -> None:
    g = guardrails
    g.instance_agent(instance)
    run_id = start_run(g, instance)
    local_checkpoint(g, instance, run_id, tmp_path / "epoch-1.pt", 1)
    finish(g, instance, run_id)
    g.known = [instance]
    fault(g, monkeypatch)
    answer, body = g.terminate(instance, at=T0 + timedelta(hours=1), upload_checkpoints=True)
    # Then the caller gets a clear refusal or failure, and the instance is still running
    assert answer == status, body
    assert said in body["message"] and body["hint"]
    assert g.ec2_state(instance) == "running"
    assert g.audits(instance), "every outcome is audited"


def test_a_failed_terminate_puts_protection_back_and_says_nothing_was_terminated(
    guardrails: Guardrails, instance: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = guardrails
    start_run(g, instance)
    fault_terminate(g, monkeypatch)
    status, body = g.terminate(instance, at=T0, force=True, reason="diverged")
    assert status == 502, body
    assert "EC2 TerminateInstances failed" in body["message"]
    assert "not terminated" in body["message"]
    assert g.ec2_state(instance) == "running"
    protection = g.ec2.describe_instance_attribute(InstanceId=instance,
                                                   Attribute="disableApiTermination")
    assert protection["DisableApiTermination"]["Value"] is True
    assert {a["outcome"] for a in g.audits(instance)} == {"failed"}
