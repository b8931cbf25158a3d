"""The training side against the real API: SigV4-signed calls through a local gateway that
checks signatures as IAM does, GuardedRun's lifecycle, checkpoint upload, and SIGTERM."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.gateway import Gateway
from tests.integration.conftest import Guardrails, guardctl
from training.agent import GuardedRun, GuardrailsRefused, instance_id_from_imds
from training.client import ApiError, GuardrailsClient

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
BUCKET = "team-checkpoints"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_record(g: Guardrails, iid: str, run_id: str) -> dict[str, Any]:
    _, detail = g.api("GET", f"/instances/{iid}")
    return dict(next(r for r in detail["runs"] if r["run_id"] == run_id))


def test_a_guarded_run_registers_heartbeats_uploads_and_finishes(
    guardrails: Guardrails, trainer: str, gateway: Gateway, tmp_path: Path
) -> None:
    g = guardrails
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    ckpt = tmp_path / "epoch-000001.npz"
    ckpt.write_bytes(b"weights after epoch 1")
    beats = threading.Event()
    with GuardedRun(total_epochs=2, endpoint=gateway.url, instance_id=trainer, bucket=BUCKET,
                    heartbeat_seconds=0.05, say=lambda _: None) as run:
        assert run.run_id is not None
        run.progress(1, 10, loss=0.25)
        for _ in range(100):
            if run_record(g, trainer, run.run_id)["heartbeat_at"]:
                beats.set()
                break
            threading.Event().wait(0.05)
        uri = run.checkpoint(ckpt, 1)
    assert beats.is_set(), "no heartbeat reached the API"
    record = run_record(g, trainer, run.run_id)
    assert record["status"] == "finished"
    assert record["pid"] == os.getpid()
    assert record["progress"]["epoch"] == 1
    # The checkpoint is in S3 under <instance>/<run>/, with its sha256, and recorded so
    assert uri == f"s3://{BUCKET}/{trainer}/{run.run_id}/epoch-000001.npz"
    head = boto3.client("s3").head_object(Bucket=BUCKET, Key=uri.split("/", 3)[3])
    assert head["Metadata"]["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    _, detail = g.api("GET", f"/instances/{trainer}")
    assert detail["checkpoints"][0]["s3_uri"] == uri
    assert detail["protected"] is False


def test_an_exception_in_training_finishes_the_run_as_failed(
    guardrails: Guardrails, trainer: str, gateway: Gateway
) -> None:
    with pytest.raises(RuntimeError), GuardedRun(
            total_epochs=1, endpoint=gateway.url, instance_id=trainer,
            say=lambda _: None) as run:
        raise RuntimeError("CUDA out of memory")
    assert run.run_id is not None
    assert run_record(guardrails, trainer, run.run_id)["status"] == "failed"


def test_a_second_guarded_run_is_refused_naming_the_live_one(
    trainer: str, gateway: Gateway
) -> None:
    with GuardedRun(total_epochs=1, endpoint=gateway.url, instance_id=trainer,
                    say=lambda _: None) as live:
        with pytest.raises(GuardrailsRefused, match=str(live.run_id)) as refused:
            GuardedRun(total_epochs=1, endpoint=gateway.url, instance_id=trainer,
                       say=lambda _: None).__enter__()
        assert "queue=true" in str(refused.value)


def test_an_unreachable_api_refuses_to_start_unless_no_guard(trainer: str) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(GuardrailsRefused, match="--no-guard"):
        GuardedRun(total_epochs=1, endpoint=endpoint, instance_id=trainer,
                   say=lambda _: None).__enter__()
    said: list[str] = []
    with GuardedRun(total_epochs=1, endpoint=endpoint, instance_id=trainer, no_guard=True,
                    say=said.append) as run:
        assert run.run_id is None
    assert any("unguarded" in line for line in said)


def test_without_an_api_the_agent_says_once_that_guardrails_are_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GUARDRAILS_API", raising=False)
    said: list[str] = []
    with GuardedRun(total_epochs=1, say=said.append) as run:
        run.progress(1)
    assert said == ["guardrails are off (no GUARDRAILS_API or --endpoint): training runs "
                    "and checkpoints locally only"]


def test_the_gateway_rejects_unsigned_and_unknown_callers(
    trainer: str, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSOMEONEELSE")
    with pytest.raises(ApiError) as refused:
        GuardrailsClient(gateway.url).instances()
    assert refused.value.status == 403
    assert "unknown access key" in refused.value.message


def test_sigterm_saves_a_checkpoint_and_ends_the_run_as_failed(
    guardrails: Guardrails, trainer: str, gateway: Gateway, tmp_path: Path
) -> None:
    env = {**os.environ, "GUARDRAILS_API": gateway.url, "GUARDRAILS_INSTANCE_ID": trainer,
           "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "training.train_with_checkpoints", "--epochs", "1000000",
         "--checkpoint-interval", "1000000", "--output-dir", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("epoch 3/"):
            break
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    saved = sorted(tmp_path.glob("epoch-*.npz"))
    assert saved, "no checkpoint was saved on SIGTERM"
    _, detail = guardrails.api("GET", f"/instances/{trainer}")
    [run] = detail["runs"]
    assert run["status"] == "failed"
    assert run["pid"] == process.pid
    # And the checkpoint it saved on the way out is recorded, so nothing terminates it blindly
    assert [c["path"] for c in detail["checkpoints"]] == [str(saved[-1].resolve())]


class FakeImds(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        self._send(200, "token-123")

    def do_GET(self) -> None:
        ok = self.headers.get("X-aws-ec2-metadata-token") == "token-123"
        self._send(200 if ok else 401, "i-0abc1234def567890" if ok else "")

    def _send(self, status: int, text: str) -> None:
        self.send_response(status)
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *_: Any) -> None:
        pass


def test_the_instance_id_comes_from_imdsv2_with_a_session_token() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeImds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        assert instance_id_from_imds(f"http://{host!s}:{port}") == "i-0abc1234def567890"
    finally:
        server.shutdown()
        server.server_close()


def test_the_client_signs_with_sigv4_for_execute_api(gateway: Gateway) -> None:
    answer = GuardrailsClient(gateway.url).instances()
    assert isinstance(answer, list)
    assert json.dumps(answer)


def test_guardctl_status_shows_the_live_run_with_its_progress(
    guardrails: Guardrails, trainer: str, gateway: Gateway, tmp_path: Path
) -> None:
    g = guardrails
    started = guardctl(gateway, "runs", "start", trainer, "--epochs", "4", "--pid", "4242",
                       "--command", "python train.py")
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.split()[-1]
    g.api("POST", f"/instances/{trainer}/runs/{run_id}/heartbeat",
          {"epoch": 2, "step": 0, "total": 4}, caller=trainer)
    g.api("POST", f"/instances/{trainer}/runs/{run_id}/checkpoints",
          {"path": "/data/e2.npz", "epoch": 2, "bytes": 3, "sha256": "b" * 64}, caller=trainer)
    table = guardctl(gateway, "status")
    assert table.returncode == 0, table.stderr
    [row] = [line for line in table.stdout.splitlines() if line.startswith(trainer)]
    assert "g5.xlarge" in row and run_id in row and "2/4" in row and "#####" in row
    detail = guardctl(gateway, "status", trainer)
    assert "termination protection: on" in detail.stdout
    assert "/data/e2.npz  ->  NOT IN S3" in detail.stdout
    raw = json.loads(guardctl(gateway, "status", "--json").stdout)
    assert raw[0]["live_run"]["run_id"] == run_id


def test_guardctl_exit_codes(trainer: str, gateway: Gateway) -> None:
    first = guardctl(gateway, "runs", "start", trainer, "--epochs", "1")
    assert first.returncode == 0, first.stderr
    second = guardctl(gateway, "runs", "start", trainer, "--epochs", "1")
    assert second.returncode == 3
    assert "already has a live training run" in second.stderr
    assert "queue=true" in second.stderr
    bad = guardctl(gateway, "runs", "start", trainer, "--epochs", "0")
    assert bad.returncode == 2
    assert "total_epochs" in bad.stderr
    no_api = subprocess.run([sys.executable, "-m", "training.guardctl", "status"], cwd=ROOT,
                            env={**os.environ, "GUARDRAILS_API": "", "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=60)
    assert no_api.returncode == 2
    assert "GUARDRAILS_API" in no_api.stderr


def test_resume_fetches_the_newest_checkpoint_this_instance_uploaded(
    guardrails: Guardrails, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from training import train_with_checkpoints as script

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    first = tmp_path / "first"
    assert script.main(["--epochs", "2", "--output-dir", str(first)]) == 0
    for epoch in (1, 2):
        name = f"epoch-{epoch:06d}.npz"
        s3.upload_file(str(first / name), BUCKET, f"i-0aaaaaaaaaaaaaaaa/run-a/{name}")
    s3.upload_file(str(first / "epoch-000002.npz"), BUCKET,
                   "i-0bbbbbbbbbbbbbbbb/run-b/epoch-000009.npz")  # another instance's
    monkeypatch.setenv("GUARDRAILS_INSTANCE_ID", "i-0aaaaaaaaaaaaaaaa")
    monkeypatch.delenv("GUARDRAILS_API", raising=False)
    fresh = tmp_path / "fresh"
    assert script.main(["--epochs", "3", "--output-dir", str(fresh), "--resume",
                        "--bucket", BUCKET]) == 0
    out = capsys.readouterr().out
    assert "fetched epoch-000002.npz from s3://team-checkpoints/i-0aaaaaaaaaaaaaaaa/" in out
    assert "resumed from epoch 2" in out
    assert "epoch 3/3" in out


class UnreachableAfterStart:
    """An API that registers the run, then vanishes."""

    def __init__(self) -> None:
        self.heartbeats = 0

    def start_run(self, instance_id: str, **_: Any) -> dict[str, Any]:
        return {"run": {"run_id": "20261102T090000000000-abcdef"}, "queued": False}

    def heartbeat(self, *_: Any, **__: Any) -> None:
        from training.client import ApiUnreachable

        self.heartbeats += 1
        raise ApiUnreachable("connection refused")

    def finish(self, *_: Any) -> dict[str, Any]:
        return {}


def test_losing_the_api_mid_run_backs_off_and_training_goes_on() -> None:
    api_down = UnreachableAfterStart()
    said: list[str] = []
    with GuardedRun(total_epochs=3, instance_id="i-0aaaaaaaaaaaaaaaa", heartbeat_seconds=0.02,
                    client=api_down, say=said.append) as run:  # type: ignore[arg-type]
        threading.Event().wait(0.7)
        run.progress(2)
    # 0.7 s at a fixed 20 ms would be ~35 attempts; doubling waits give about 5
    assert 2 <= api_down.heartbeats <= 7
    assert any("training continues" in line for line in said)


def test_a_queued_guarded_run_waits_then_starts_when_the_live_one_finishes(
    guardrails: Guardrails, trainer: str, gateway: Gateway
) -> None:
    entered = threading.Event()
    second: dict[str, Any] = {}

    def queued() -> None:
        with GuardedRun(total_epochs=1, endpoint=gateway.url, instance_id=trainer, queue=True,
                        queue_poll_seconds=0.05, say=lambda _: None) as run:
            second["run_id"] = run.run_id
            entered.set()

    with GuardedRun(total_epochs=1, endpoint=gateway.url, instance_id=trainer,
                    say=lambda _: None):
        waiter = threading.Thread(target=queued)
        waiter.start()
        assert not entered.wait(0.5), "the queued run started while the first was live"
    assert entered.wait(10), "the queued run never started"
    waiter.join(10)
    assert run_record(guardrails, trainer, second["run_id"])["status"] == "finished"


def test_metrics_the_api_would_refuse_are_left_out_and_heartbeats_go_on(
    guardrails: Guardrails, trainer: str, gateway: Gateway
) -> None:
    with GuardedRun(total_epochs=3, endpoint=gateway.url, instance_id=trainer,
                    heartbeat_seconds=0.05, say=lambda _: None) as run:
        run.progress(2, 0, loss=float("nan"), acc=0.5, **{"x" * 80: 1.0})
        assert run.metrics == {"acc": 0.5}
        assert run.run_id is not None
        for _ in range(100):
            if run_record(guardrails, trainer, run.run_id)["metrics"] == {"acc": 0.5}:
                break
            threading.Event().wait(0.05)
        assert run_record(guardrails, trainer, run.run_id)["metrics"] == {"acc": 0.5}


def test_a_failed_upload_leaves_the_checkpoint_protected_and_training_going(
    guardrails: Guardrails, trainer: str, gateway: Gateway, tmp_path: Path
) -> None:
    ckpt = tmp_path / "epoch-000001.npz"
    ckpt.write_bytes(b"weights")
    said: list[str] = []
    with GuardedRun(total_epochs=1, endpoint=gateway.url, instance_id=trainer,
                    bucket="no-such-bucket", say=said.append) as run:
        assert run.checkpoint(ckpt, 1) is None
    _, detail = guardrails.api("GET", f"/instances/{trainer}")
    assert detail["checkpoints"][0]["s3_uri"] is None
    assert detail["protected"] is True
    assert any("stays protected" in line for line in said)


def local_only_checkpoint(g: Guardrails, iid: str, path: Path) -> None:
    """A finished run that left one checkpoint on the instance only."""
    path.write_bytes(b"weights" * 1000)
    _, started = g.api("POST", f"/instances/{iid}/runs",
                       {"pid": 4242, "command": "python train.py", "total_epochs": 2},
                       caller=iid)
    run_id = started["run"]["run_id"]
    g.api("POST", f"/instances/{iid}/runs/{run_id}/checkpoints",
          {"path": str(path), "epoch": 2, "bytes": path.stat().st_size,
           "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}, caller=iid)
    g.api("POST", f"/instances/{iid}/runs/{run_id}/finish", {"status": "finished"}, caller=iid)


def test_guardctl_terminate_says_why_it_is_blocked_and_exits_3(
    guardrails: Guardrails, trainer: str, gateway: Gateway, tmp_path: Path
) -> None:
    g = guardrails
    g.deploy_workflow()
    local_only_checkpoint(g, trainer, tmp_path / "epoch-2.npz")
    blocked = guardctl(gateway, "terminate", trainer)
    assert blocked.returncode == 3, blocked.stderr
    assert "Not terminated" in blocked.stderr
    assert str(tmp_path / "epoch-2.npz") in blocked.stderr
    assert "--upload-checkpoints" in blocked.stderr and "stop-instances" in blocked.stderr
    assert g.ec2_state(trainer) == "running"
    usage = guardctl(gateway, "terminate", trainer, "--force")
    assert usage.returncode == 2 and "--reason" in usage.stderr


def test_guardctl_terminate_upload_wait_shows_progress_then_terminates(
    guardrails: Guardrails, trainer: str, gateway: Gateway, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from guardrails import constants as c
    from guardrails.api import context as api_context
    from guardrails.handlers import termination

    g = guardrails
    g.deploy_workflow()
    # The upload is seen in progress twice, 2 s apart: still going when the API answers
    g.instance_agent(trainer, polls_in_progress=2)
    monkeypatch.setenv(c.ENV_UPLOAD_POLL_SECONDS, "2")
    termination.workflow.cache_clear()
    local_only_checkpoint(g, trainer, tmp_path / "epoch-2.npz")
    # The API answers 202 at once, as it does when an upload outlasts its 20 s
    monkeypatch.setenv(c.ENV_TERMINATE_WAIT_SECONDS, "0")
    api_context.settings.cache_clear()
    pending = guardctl(gateway, "terminate", trainer, "--upload-checkpoints")
    # Without --wait it is not terminated yet, so it must not exit 0
    assert pending.returncode == 1, pending.stderr
    assert "not terminated yet" in pending.stderr and "--execution" in pending.stderr
    execution = pending.stderr.split("--execution ")[1].split()[0]
    done = guardctl(gateway, "terminate", trainer, "--execution", execution, "--wait",
                    "--poll-seconds", "0.2")
    assert done.returncode == 0, done.stderr
    assert "uploading checkpoints to S3" in done.stderr
    assert f"{trainer} terminated" in done.stdout and "audit:" in done.stdout
    assert g.ec2_state(trainer) in ("shutting-down", "terminated")


def test_guardctl_terminate_reports_a_failure_with_exit_1(
    guardrails: Guardrails, trainer: str, gateway: Gateway, tmp_path: Path
) -> None:
    g = guardrails
    g.deploy_workflow()
    g.instance_agent(trainer, failing={"SendCommand"})
    local_only_checkpoint(g, trainer, tmp_path / "epoch-2.npz")
    failed = guardctl(gateway, "terminate", trainer, "--upload-checkpoints")
    assert failed.returncode == 1, failed.stderr
    assert "was not terminated" in failed.stderr
    assert g.ec2_state(trainer) == "running"


def test_a_spot_warning_makes_the_running_trainer_checkpoint_and_carry_on(
    guardrails: Guardrails, trainer: str, gateway: Gateway, tmp_path: Path
) -> None:
    """The guard sends `kill -USR1 <pid>` over SSM; here the local agent delivers it to a real
    train_with_checkpoints.py process."""
    from tests.events import spot_warning

    g = guardrails
    env = {**os.environ, "GUARDRAILS_API": gateway.url, "GUARDRAILS_INSTANCE_ID": trainer,
           "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "training.train_with_checkpoints", "--epochs", "1000000",
         "--checkpoint-interval", "1000000", "--output-dir", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("epoch 3/"):
                break
        g.instance_agent(trainer)  # delivers the signal with os.kill
        g.guard_event(spot_warning(trainer, T0), T0)
        deadline = time.monotonic() + 30
        checkpoints: list[Any] = []
        while time.monotonic() < deadline and not checkpoints:
            _, detail = g.api("GET", f"/instances/{trainer}")
            checkpoints = detail["checkpoints"]
            time.sleep(0.2)
        assert checkpoints, "no checkpoint was recorded after SIGUSR1"
        assert process.poll() is None, "training must carry on after a SIGUSR1 checkpoint"
        assert detail["runs"][0]["status"] == "running"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def test_guardctl_shows_a_runs_budget_and_snoozes_with_a_reason(
    guardrails: Guardrails, trainer: str, gateway: Gateway
) -> None:
    started = guardctl(gateway, "runs", "start", trainer, "--epochs", "4", "--pid", "4242",
                       "--budget-usd", "12.5")
    assert started.returncode == 0, started.stderr
    detail = guardctl(gateway, "status", trainer)
    assert "budget $12.50" in detail.stdout and "spent $" in detail.stdout
    snoozed = guardctl(gateway, "snooze", trainer, "--hours", "3", "--reason", "eval")
    assert snoozed.returncode == 0, snoozed.stderr
    assert "postponed until" in snoozed.stdout
    too_long = guardctl(gateway, "snooze", trainer, "--hours", "100", "--reason", "holiday")
    assert too_long.returncode == 2 and "snooze cap" in too_long.stderr
    no_reason = guardctl(gateway, "snooze", trainer, "--hours", "3")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
