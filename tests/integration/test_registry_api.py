"""The training registry over the REST API: one live run per instance, queues, progress,
checkpoints, termination protection, and who may write."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from guardrails.api import context as api_context
from guardrails.domain.runs import Checkpoint
from tests.integration.conftest import Guardrails

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SHA = hashlib.sha256(b"weights").hexdigest()


def start_body(pid: int = 4242, **extra: Any) -> dict[str, Any]:
    return {"pid": pid, "command": "python train.py --epochs 3", "total_epochs": 3, **extra}


def protected(g: Guardrails, instance_id: str) -> bool:
    attribute = g.ec2.describe_instance_attribute(InstanceId=instance_id,
                                                  Attribute="disableApiTermination")
    return bool(attribute["DisableApiTermination"]["Value"])


@pytest.fixture
def instance(guardrails: Guardrails) -> str:
    iid = guardrails.launch("g5.xlarge")
    guardrails.state_change(iid, "running", T0)
    return iid


def test_a_second_start_is_refused_naming_the_live_run(
    guardrails: Guardrails, instance: str
) -> None:
    g = guardrails
    # Given a live run
    status, first = g.api("POST", f"/instances/{instance}/runs", start_body(4242),
                          caller=instance, at=T0)
    assert status == 201
    assert first["run"]["status"] == "running"
    # When a second run starts on the same instance
    status, refused = g.api("POST", f"/instances/{instance}/runs", start_body(777),
                            caller=instance, at=T0 + timedelta(minutes=1))
    # Then it gets 409, naming the live run's id and pid, and how to resolve it
    assert status == 409
    assert refused["error"] == "run_in_progress"
    assert refused["live_run"] == {"run_id": first["run"]["run_id"], "pid": 4242}
    assert first["run"]["run_id"] in refused["message"]
    assert "queue=true" in refused["hint"]


def test_queued_runs_start_in_order_after_finish(guardrails: Guardrails, instance: str) -> None:
    g = guardrails
    _, live = g.api("POST", f"/instances/{instance}/runs", start_body(1), caller=instance, at=T0)
    queued = []
    for n in range(2, 5):
        status, body = g.api("POST", f"/instances/{instance}/runs", start_body(n, queue=True),
                             caller=instance, at=T0 + timedelta(minutes=n))
        assert status == 201
        assert body["queued"] is True
        queued.append(body["run"]["run_id"])
    promoted = []
    current = live["run"]["run_id"]
    for n in range(3):
        status, done = g.api("POST", f"/instances/{instance}/runs/{current}/finish",
                             {"status": "finished"}, caller=instance,
                             at=T0 + timedelta(hours=n + 1))
        assert status == 200
        current = done["promoted"]["run_id"]
        promoted.append(current)
    assert promoted == queued
    _, last = g.api("POST", f"/instances/{instance}/runs/{current}/finish",
                    {"status": "failed"}, caller=instance, at=T0 + timedelta(hours=5))
    assert last["promoted"] is None


def test_progress_and_checkpoints_show_in_the_instance_detail(
    guardrails: Guardrails, instance: str
) -> None:
    g = guardrails
    _, started = g.api("POST", f"/instances/{instance}/runs", start_body(), caller=instance,
                       at=T0)
    run_id = started["run"]["run_id"]
    status, _ = g.api("POST", f"/instances/{instance}/runs/{run_id}/heartbeat",
                      {"epoch": 1, "step": 50, "total": 3, "metrics": {"loss": 0.42}},
                      caller=instance, at=T0 + timedelta(minutes=10))
    assert status == 200
    status, _ = g.api("POST", f"/instances/{instance}/runs/{run_id}/checkpoints",
                      {"path": "/data/ckpt/epoch-1.pt", "epoch": 1, "bytes": 7, "sha256": SHA},
                      caller=instance, at=T0 + timedelta(minutes=10))
    assert status == 201
    # When anyone IAM-authorized reads the instance
    status, detail = g.api("GET", f"/instances/{instance}", at=T0 + timedelta(minutes=11))
    # Then the live run, its progress and ETA, and the checkpoint not yet in S3 are there
    assert status == 200
    progress = detail["live_run"]["progress"]
    assert (progress["epoch"], progress["total"]) == (1, 3)
    assert progress["seconds_per_epoch"] == 600
    assert datetime.fromisoformat(progress["eta"]) == T0 + timedelta(minutes=30)
    assert detail["live_run"]["metrics"] == {"loss": 0.42}
    [ckpt] = detail["checkpoints"]
    assert (ckpt["path"], ckpt["uploaded"]) == ("/data/ckpt/epoch-1.pt", False)
    assert any("epoch-1.pt" in reason for reason in detail["protection_reasons"])
    assert detail["instance_type"] == "g5.xlarge"
    # And the list shows the live run too
    status, listed = g.api("GET", "/instances", at=T0 + timedelta(minutes=11))
    assert status == 200
    [row] = [i for i in listed if i["instance_id"] == instance]
    assert row["live_run"]["run_id"] == run_id


def test_protection_follows_live_runs_and_checkpoints_not_in_s3(
    guardrails: Guardrails, instance: str
) -> None:
    g = guardrails
    assert not protected(g, instance)
    # Given a live run: the instance is protected, and a plain terminate fails inside EC2
    _, started = g.api("POST", f"/instances/{instance}/runs", start_body(), caller=instance,
                       at=T0)
    run_id = started["run"]["run_id"]
    assert protected(g, instance)
    with pytest.raises(ClientError) as refused:
        g.ec2.terminate_instances(InstanceIds=[instance])
    assert refused.value.response["Error"]["Code"] == "OperationNotPermitted"
    # When the run finishes but left a checkpoint only on disk: still protected
    ckpt = {"path": "/data/ckpt/epoch-3.pt", "epoch": 3, "bytes": 7, "sha256": SHA}
    g.api("POST", f"/instances/{instance}/runs/{run_id}/checkpoints", ckpt, caller=instance)
    g.api("POST", f"/instances/{instance}/runs/{run_id}/finish", {"status": "finished"},
          caller=instance)
    assert protected(g, instance)
    # When the checkpoint is recorded again with its S3 copy: protection is lifted
    status, ack = g.api("POST", f"/instances/{instance}/runs/{run_id}/checkpoints",
                        {**ckpt, "s3_uri": f"s3://ckpts/{instance}/{run_id}/epoch-3.pt"},
                        caller=instance)
    assert (status, ack["protected"]) == (201, False)
    assert not protected(g, instance)


def test_a_spot_instance_is_never_protected_and_says_so(guardrails: Guardrails) -> None:
    g = guardrails
    spot = g.launch("g5.xlarge", spot=True)
    g.state_change(spot, "running", T0)
    g.api("POST", f"/instances/{spot}/runs", start_body(), caller=spot, at=T0)
    assert not protected(g, spot)
    _, detail = g.api("GET", f"/instances/{spot}")
    assert detail["protected"] is None
    assert "spot instances cannot have termination protection" in detail["protection_note"]


@pytest.mark.parametrize("caller", ["i-0aaaaaaaaaaaaaaaa", "ml-engineer"])
def test_only_the_instance_itself_may_write(
    guardrails: Guardrails, instance: str, caller: str
) -> None:
    g = guardrails
    items = g.items()
    status, body = g.api("POST", f"/instances/{instance}/runs", start_body(), caller=caller)
    assert status == 403
    assert instance in body["message"]
    assert g.items() == items
    # Reads stay open to any IAM-authorized caller
    assert g.api("GET", f"/instances/{instance}", caller=caller)[0] == 200


def test_updates_to_an_unknown_or_ended_run_are_refused(
    guardrails: Guardrails, instance: str
) -> None:
    g = guardrails
    missing = "20261102T090000000000-abcdef"
    status, body = g.api("POST", f"/instances/{instance}/runs/{missing}/heartbeat",
                         {"epoch": 1, "step": 0, "total": 3}, caller=instance)
    assert (status, body["error"]) == (404, "run_not_found")
    _, started = g.api("POST", f"/instances/{instance}/runs", start_body(), caller=instance)
    run_id = started["run"]["run_id"]
    g.api("POST", f"/instances/{instance}/runs/{run_id}/finish", {"status": "finished"},
          caller=instance)
    status, body = g.api("POST", f"/instances/{instance}/runs/{run_id}/heartbeat",
                         {"epoch": 1, "step": 0, "total": 3}, caller=instance)
    assert (status, body["error"]) == (409, "run_not_live")
    assert "finished" in body["message"]


def test_an_unknown_instance_is_404(guardrails: Guardrails) -> None:
    status, body = guardrails.api("GET", "/instances/i-0123456789abcdef0")
    assert status == 404
    assert "not tracked" in body["message"]


def test_another_role_naming_its_session_after_the_instance_may_not_write(
    guardrails: Guardrails, instance: str
) -> None:
    # Anyone allowed to assume some role can pick `--role-session-name i-...`
    status, body = guardrails.api("POST", f"/instances/{instance}/runs", start_body(),
                                  caller=instance, role="SomeDevRole")
    assert status == 403
    assert "SomeDevRole" in body["message"]


def test_the_detail_lists_the_newest_200_checkpoints_and_counts_them_all(
    guardrails: Guardrails, instance: str
) -> None:
    g = guardrails
    _, started = g.api("POST", f"/instances/{instance}/runs", start_body(), caller=instance)
    run_id = started["run"]["run_id"]
    store = api_context.store()
    for epoch in range(1, 206):
        store.put_checkpoint(Checkpoint(instance, run_id, epoch, f"/c/{epoch}", 1, SHA, T0,
                                        s3_uri=f"s3://ckpts/{instance}/{run_id}/{epoch}"))
    _, detail = g.api("GET", f"/instances/{instance}")
    assert detail["checkpoints_total"] == 205
    assert [c["epoch"] for c in detail["checkpoints"]] == list(range(6, 206))
