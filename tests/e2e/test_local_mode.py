"""Local mode as a user runs it: `guardctl local` in a subprocess, used only through public
interfaces (boto3 against the emulator endpoint, the HTTP API, guardctl), stopped with
Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest

from training.client import GuardrailsClient

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = {"AWS_ACCESS_KEY_ID": "AKIALOCALOPERATOR000",
            "AWS_SECRET_ACCESS_KEY": "local-operator-secret", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class Local:
    process: subprocess.Popen[str]
    endpoint: str
    api: str
    alerts: Path
    banner: str

    def env(self) -> dict[str, str]:
        return {**os.environ, **OPERATOR, "AWS_ENDPOINT_URL": self.endpoint,
                "GUARDRAILS_API": self.api, "PYTHONPATH": f"{ROOT}:{ROOT / 'lambdas'}"}

    def aws(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=OPERATOR["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=OPERATOR["AWS_SECRET_ACCESS_KEY"])

    def launch(self, instance_type: str) -> dict[str, Any]:
        """One instance, launched with boto3 as a user would."""
        launched: dict[str, Any] = self.aws("ec2").run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
            InstanceType=instance_type)["Instances"][0]
        return launched

    def instance_credentials(self, instance_id: str) -> dict[str, Any]:
        """What the instance profile gives the instance: a role session named after it."""
        creds: dict[str, Any] = self.aws("sts").assume_role(
            RoleArn="arn:aws:iam::123456789012:role/guardrails-instance",
            RoleSessionName=instance_id)["Credentials"]
        return creds

    def guardctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "training.guardctl", *args], cwd=ROOT,
                              env=self.env(), capture_output=True, text=True, timeout=120)

    def alerts_for(self, instance_id: str, rule: str, wait: float = 20.0) -> list[dict[str, Any]]:
        """The alerts in the JSON-lines file, waiting up to `wait` s for the first one."""
        deadline = time.monotonic() + wait
        while True:
            found = [a for a in self.all_alerts()
                     if a.get("instance_id") == instance_id and a.get("rule") == rule]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.25)

    def all_alerts(self) -> list[dict[str, Any]]:
        if not self.alerts.exists():
            return []
        return [json.loads(line) for line in self.alerts.read_text().splitlines() if line]


def start_local(tmp: Path, speed: float, *extra: str) -> Local:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k != "GUARDRAILS_API"}
    env["PYTHONPATH"] = f"{ROOT}:{ROOT / 'lambdas'}"
    alerts = tmp / "alerts.jsonl"
    # stderr to a file: a pipe nobody reads would fill up and stall the stack.
    with (tmp / "local.stderr").open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "training.guardctl", "local", "--port", "0", "--speed",
             str(speed), "--alerts", str(alerts), *extra],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
    assert process.stdout is not None
    first, second = process.stdout.readline(), process.stdout.readline()
    assert first.startswith("AWS_ENDPOINT_URL=http://127.0.0.1:"), first
    assert second.startswith("GUARDRAILS_API=http://127.0.0.1:"), second
    banner = []
    while not banner or "Ctrl-C" not in banner[-1]:  # what a user is told to do next
        banner.append(process.stdout.readline())
        assert banner[-1], "local mode ended before it was ready"
    return Local(process, first.strip().split("=", 1)[1], second.strip().split("=", 1)[1],
                 alerts, "".join(banner))


def stop_local(local: Local) -> int:
    local.process.send_signal(signal.SIGINT)
    local.process.communicate(timeout=60)
    return local.process.returncode


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """One stack for the tests that each launch instances of their own."""
    running = start_local(tmp_path_factory.mktemp("local"), speed=60)
    yield running
    assert stop_local(running) == 0


def test_a_p4d_launched_with_boto3_gets_its_rate_warning_and_shows_in_status(
    local: Local,
) -> None:
    ec2 = local.aws("ec2")
    p4d = local.launch("p4d.24xlarge")["InstanceId"]
    [rate] = local.alerts_for(p4d, "rate")
    assert rate["severity"] == "warning"
    status = local.guardctl("status")
    assert p4d in status.stdout and "p4d.24xlarge" in status.stdout
    # Stopping it is seen as an EC2 event: no more warnings for it
    ec2.stop_instances(InstanceIds=[p4d])
    deadline = time.monotonic() + 20
    while "stopped" not in local.guardctl("status", p4d).stdout:
        assert time.monotonic() < deadline, "the stop never reached the guardrails"
        time.sleep(0.5)


def test_an_instance_identity_from_sts_is_that_instance(local: Local) -> None:
    iid = local.launch("g5.xlarge")["InstanceId"]
    creds = local.instance_credentials(iid)
    env = {**local.env(), "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
           "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
           "AWS_SESSION_TOKEN": creds["SessionToken"]}
    started = subprocess.run(
        [sys.executable, "-m", "training.guardctl", "runs", "start", iid, "--epochs", "3",
         "--pid", "4242"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    # The operator is not the instance: the same write is refused
    refused = local.guardctl("runs", "start", iid, "--epochs", "3", "--pid", "4242")
    assert refused.returncode == 1 and "itself may write" in refused.stderr


def test_terminate_is_blocked_then_uploads_and_terminates_through_the_emulated_workflow(
    local: Local, tmp_path: Path
) -> None:
    ec2 = local.aws("ec2")
    iid = local.launch("g5.xlarge")["InstanceId"]
    creds = local.instance_credentials(iid)
    session = botocore.session.get_session()
    session.set_credentials(creds["AccessKeyId"], creds["SecretAccessKey"],
                            creds["SessionToken"])
    as_instance = GuardrailsClient(local.api, region="us-east-1", session=session)
    run = as_instance.start_run(iid, pid=4242, command="train", total_epochs=2)["run"]
    checkpoint = tmp_path / "epoch-2.npz"
    checkpoint.write_bytes(b"weights" * 1000)
    as_instance.checkpoint(iid, run["run_id"], path=str(checkpoint), epoch=2,
                           bytes=checkpoint.stat().st_size,
                           sha256=hashlib.sha256(checkpoint.read_bytes()).hexdigest())
    as_instance.finish(iid, run["run_id"], "finished")
    blocked = local.guardctl("terminate", iid)
    assert blocked.returncode == 3, blocked.stderr
    assert str(checkpoint) in blocked.stderr
    done = local.guardctl("terminate", iid, "--upload-checkpoints", "--wait")
    assert done.returncode == 0, done.stderr
    key = f"{iid}/{run['run_id']}/epoch-2.npz"
    assert local.aws("s3").head_object(Bucket="guardrails-checkpoints", Key=key)
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] in ("shutting-down", "terminated")


def test_seed_demo_launches_instances_to_watch_and_the_idle_one_is_announced(
    tmp_path: Path,
) -> None:
    # Given local mode started with --seed-demo, twenty minutes a second
    local = start_local(tmp_path, 1200, "--seed-demo")
    try:
        assert local.process.stdout is not None
        seeded = [local.process.stdout.readline() for _ in range(5)]
        ids = {line.split()[1].rstrip(":,"): line.split()[0] for line in seeded
               if line.startswith("  i-")}
        # Then the three instances are running in the emulator, launched as a user would
        assert sorted(ids) == ["g5.2xlarge", "g5.xlarge", "p4d.24xlarge"], seeded
        # And the p4d is warned about its rate, and the idle g5.2xlarge, past its 30 idle
        # minutes, gets the grace alert of the dry run (the default): it would be stopped
        assert local.alerts_for(ids["p4d.24xlarge"], "rate")
        [grace] = local.alerts_for(ids["g5.2xlarge"], "stop-grace", wait=60)
        assert grace["dry_run"] is True and "would be stopped" in grace["message"]
        state = local.aws("ec2").describe_instances(InstanceIds=[ids["g5.2xlarge"]])
        assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
    finally:
        assert stop_local(local) == 0
