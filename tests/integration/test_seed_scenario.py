"""The seed scenario, end to end through the API as a user drives it: the real training script
with its agent, and guardctl, against the API on 127.0.0.1 with the workflow executed by moto.

1. start training (5 epochs); 2. a second start is blocked; 3. terminate is blocked naming the
checkpoint; 4. terminate with upload succeeds; 5. an instance with no checkpoints terminates
at once."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from local.gateway import Gateway
from tests.integration.conftest import BUCKET, ROOT, T_START, Guardrails, guardctl


def test_the_seed_scenario(guardrails: Guardrails, trainer: str, gateway: Gateway,
                           tmp_path: Path) -> None:
    g = guardrails
    g.deploy_workflow()
    g.instance_agent(trainer)
    env = {**os.environ, "GUARDRAILS_API": gateway.url, "GUARDRAILS_INSTANCE_ID": trainer,
           "PYTHONPATH": str(ROOT)}
    out = tmp_path / "checkpoints"
    # 1. Training starts: 5 epochs, a checkpoint each (kept on the instance: no bucket)
    training = subprocess.Popen(
        [sys.executable, "-m", "training.train_with_checkpoints", "--epochs", "5",
         "--epoch-seconds", "1", "--output-dir", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert training.stdout is not None
    assert training.stdout.readline().startswith("epoch 1/5")
    # 2. A second start on the same instance is refused, naming the live run
    second = guardctl(gateway, "runs", "start", trainer, "--epochs", "3", "--pid", "99")
    assert second.returncode == 3, second.stderr
    assert "already has a live training run" in second.stderr
    _, err = training.communicate(timeout=60)
    assert training.returncode == 0, err
    newest = max(out.glob("epoch-*.npz"))
    # 3. Terminate is blocked, naming the checkpoints that exist only on the instance
    blocked = guardctl(gateway, "terminate", trainer)
    assert blocked.returncode == 3, blocked.stderr
    assert str(newest.resolve()) in blocked.stderr
    assert g.ec2_state(trainer) == "running"
    # 4. With the upload it succeeds: copied, verified, terminated
    done = guardctl(gateway, "terminate", trainer, "--upload-checkpoints", "--wait")
    assert done.returncode == 0, done.stderr
    assert g.ec2_state(trainer) in ("shutting-down", "terminated")
    _, detail = g.api("GET", f"/instances/{trainer}")
    assert len(detail["checkpoints"]) == 5
    for ckpt in detail["checkpoints"]:
        key = ckpt["s3_uri"].removeprefix(f"s3://{BUCKET}/")
        head = g.s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        assert base64.b64decode(head["ChecksumSHA256"]).hex() == ckpt["sha256"]
        assert ckpt["sha256"] == hashlib.sha256(Path(ckpt["path"]).read_bytes()).hexdigest()
    # 5. An instance with no checkpoints terminates at once
    idle = g.launch("g5.xlarge")
    g.state_change(idle, "running", T_START)
    at_once = guardctl(gateway, "terminate", idle)
    assert at_once.returncode == 0, at_once.stderr
    assert g.ec2_state(idle) in ("shutting-down", "terminated")
