"""GuardedRun: registers a training run with the guardrails, heartbeats, records and uploads
checkpoints, and finishes with the right status, even on SIGTERM.

Signals (when `save` is given):
- SIGTERM (a stop, an OS shutdown): save and upload a checkpoint, end the run as failed, exit.
- SIGUSR1 (the guardrails' spot interruption warning, sent over SSM as `kill -USR1 <pid>`):
  save and upload a checkpoint now, and keep training.

    with GuardedRun(total_epochs=10, save=lambda: save_checkpoint(...)) as run:
        for epoch in ...:
            ...
            run.progress(epoch, step, loss=loss)
            run.checkpoint(path, epoch)
"""

from __future__ import annotations

import hashlib
import math
import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from training.client import ApiError, ApiUnreachable, GuardrailsClient, endpoint_from

ENV_INSTANCE_ID = "GUARDRAILS_INSTANCE_ID"
ENV_BUCKET = "GUARDRAILS_BUCKET"
IMDS = "http://169.254.169.254"
MAX_BACKOFF_SECONDS = 300.0
# Three heartbeats fit in the default 10-minute stale timeout (heartbeat_timeout_minutes).
HEARTBEAT_SECONDS = 180.0
MAX_METRICS = 32


class GuardrailsRefused(Exception):
    """The guardrails said no (a live run, or no way to know): the message says what to do."""


def instance_id_from_imds(base: str = IMDS, timeout: float = 2.0) -> str:
    """The instance id from IMDSv2 (a session token first, then the metadata)."""
    token_request = urllib.request.Request(
        f"{base}/latest/api/token", method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    with urllib.request.urlopen(token_request, timeout=timeout) as answer:
        token = answer.read().decode()
    id_request = urllib.request.Request(f"{base}/latest/meta-data/instance-id",
                                        headers={"X-aws-ec2-metadata-token": token})
    with urllib.request.urlopen(id_request, timeout=timeout) as answer:
        return str(answer.read().decode().strip())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class GuardedRun:
    def __init__(self, *, total_epochs: int, command: str | None = None,
                 checkpoint_interval: int = 1, queue: bool = False,
                 endpoint: str | None = None, bucket: str | None = None,
                 instance_id: str | None = None, no_guard: bool = False,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS,
                 save: Callable[[], tuple[Path, int] | None] | None = None,
                 client: GuardrailsClient | None = None, s3: Any = None,
                 say: Callable[[str], None] | None = None,
                 queue_poll_seconds: float = 15.0, budget_usd: float | None = None) -> None:
        self.total_epochs = total_epochs
        self.command = command or " ".join(sys.argv) or "python"
        self.checkpoint_interval = checkpoint_interval
        self.queue = queue
        self.endpoint = endpoint_from(endpoint)
        self.bucket = bucket or os.environ.get(ENV_BUCKET)
        self.instance_id = instance_id or os.environ.get(ENV_INSTANCE_ID)
        self.no_guard = no_guard
        self.heartbeat_seconds = heartbeat_seconds
        self.queue_poll_seconds = queue_poll_seconds
        self.budget_usd = budget_usd
        self.save = save
        self.client = client or (GuardrailsClient(self.endpoint) if self.endpoint else None)
        self._s3 = s3
        self.say = say or (lambda text: print(f"[guardrails] {text}", file=sys.stderr))
        self.run_id: str | None = None
        self.epoch = 0
        self.step = 0
        self.metrics: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous_sigterm: Any = None
        self._previous_sigusr1: Any = None
        self._finished = False

    @property
    def guarded(self) -> bool:
        return self.run_id is not None

    # ---- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> GuardedRun:
        if self.client is None:
            self.say("guardrails are off (no GUARDRAILS_API or --endpoint): training runs "
                     "and checkpoints locally only")
            return self
        self.instance_id = self.instance_id or instance_id_from_imds()
        try:
            started = self.client.start_run(
                self.instance_id, pid=os.getpid(), command=self.command[:4096],
                total_epochs=self.total_epochs,
                checkpoint_interval=self.checkpoint_interval, queue=self.queue,
                **({"budget_usd": self.budget_usd} if self.budget_usd else {}))
        except ApiUnreachable as error:
            if not self.no_guard:
                raise GuardrailsRefused(
                    f"the guardrails API is unreachable ({error}), so it cannot be known "
                    "whether another run is live on this instance. Fix the endpoint, or "
                    "pass --no-guard to train without guardrails") from None
            self.say(f"guardrails unreachable; --no-guard given, training unguarded ({error})")
            return self
        except ApiError as error:
            raise GuardrailsRefused(str(error)) from None
        self.run_id = str(started["run"]["run_id"])
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._previous_sigusr1 = signal.signal(signal.SIGUSR1, self._on_sigusr1)
        if started.get("queued"):
            try:
                self._wait_for_promotion(self.queue_poll_seconds)
            except BaseException:
                # Ctrl-C, SIGTERM or an error while queued: withdraw, so the run is never
                # promoted later with nobody behind it.
                self._finish("failed")
                raise
        self.say(f"run {self.run_id} registered on {self.instance_id}")
        self._thread = threading.Thread(target=self._heartbeats, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._finish("finished" if kind is None else "failed")

    def _finish(self, status: str) -> None:
        if self._finished:
            return
        self._finished = True
        self._stop.set()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if self._previous_sigusr1 is not None:
            signal.signal(signal.SIGUSR1, self._previous_sigusr1)
        if self.client is None or self.run_id is None or self.instance_id is None:
            return
        try:
            self.client.finish(self.instance_id, self.run_id, status)
            self.say(f"run {self.run_id} {status}")
        except (ApiError, ApiUnreachable) as error:
            self.say(f"could not record the end of run {self.run_id}: {error}; the sweep "
                     "will mark it stale")

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """A stop or a spot interruption: save a checkpoint, then end as failed."""
        self.say("SIGTERM: saving a checkpoint before exiting")
        saved = self.save() if self.save is not None else None
        if saved is not None:
            self.checkpoint(*saved)
        self._finish("failed")
        sys.exit(128 + signum)

    def _on_sigusr1(self, signum: int, frame: FrameType | None) -> None:
        """A spot interruption warning: save and upload a checkpoint now, keep training."""
        self.say("SIGUSR1: saving and uploading a checkpoint now (spot interruption warning)")
        saved = self.save() if self.save is not None else None
        if saved is not None:
            self.checkpoint(*saved)

    def _wait_for_promotion(self, poll_seconds: float = 15.0) -> None:
        assert self.client is not None and self.instance_id is not None
        self.say(f"run {self.run_id} is queued behind the live run; waiting")
        delay = poll_seconds
        while True:
            try:
                detail = self.client.instance(self.instance_id)
                delay = poll_seconds
            except ApiUnreachable as error:
                self.say(f"guardrails API unreachable while queued, retrying: {error}")
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                time.sleep(delay)
                continue
            mine = next((r for r in detail.get("runs") or [] if r["run_id"] == self.run_id),
                        None)
            if mine is None or mine["status"] not in ("queued", "running"):
                raise GuardrailsRefused(f"queued run {self.run_id} was withdrawn "
                                        f"({mine['status'] if mine else 'gone'})")
            if mine["status"] == "running":
                return
            time.sleep(delay)

    # ---- during training --------------------------------------------------------------
    def progress(self, epoch: int, step: int = 0, **metrics: float) -> None:
        """Remember progress; the heartbeat thread reports it. Metrics the API would refuse
        (NaN or infinite, a long name, more than MAX_METRICS) are left out, so a diverging
        loss never silences the heartbeat."""
        self.epoch, self.step = epoch, step
        kept = {k: float(v) for k, v in metrics.items()
                if len(k) <= 64 and math.isfinite(float(v)) and abs(float(v)) <= 1e100}
        self.metrics = dict(list(kept.items())[:MAX_METRICS])

    def checkpoint(self, path: str | Path, epoch: int) -> str | None:
        """Record a checkpoint; upload it to s3://bucket/<instance>/<run>/ and record that.
        Returns its S3 URI, or None when it stayed local."""
        path = Path(path)
        client, iid, run = self.client, self.instance_id, self.run_id
        if client is None or run is None or iid is None:
            return None
        facts: dict[str, Any] = {"path": str(path.resolve()), "epoch": epoch,
                                 "bytes": path.stat().st_size, "sha256": sha256_of(path)}
        self._try(lambda: client.checkpoint(iid, run, **facts))
        if not self.bucket:
            return None
        key = f"{iid}/{run}/{path.name}"
        try:
            self.s3.upload_file(str(path), self.bucket, key,
                                ExtraArgs={"ChecksumAlgorithm": "SHA256",
                                           "Metadata": {"sha256": facts["sha256"]}})
        except Exception as error:  # training goes on; the checkpoint stays protected
            self.say(f"upload of {path.name} to s3://{self.bucket}/{key} failed ({error}); "
                     "it is recorded as not in S3, so the instance stays protected")
            return None
        uri = f"s3://{self.bucket}/{key}"
        self._try(lambda: client.checkpoint(iid, run, **facts, s3_uri=uri))
        return uri

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3")
        return self._s3

    def _heartbeats(self) -> None:
        client, iid, run = self.client, self.instance_id, self.run_id
        assert client is not None and iid is not None and run is not None
        delay = self.heartbeat_seconds
        while not self._stop.wait(delay):
            try:
                client.heartbeat(iid, run, epoch=self.epoch, step=self.step,
                                 total=self.total_epochs, metrics=self.metrics)
                delay = self.heartbeat_seconds
            except ApiUnreachable as error:
                # Lost the API: training goes on; retry with backoff.
                self.say(f"guardrails API unreachable, training continues: {error}")
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            except ApiError as error:
                # The run is no longer live (marked stale, or finished elsewhere): say it
                # once and stop; heartbeats cannot revive it.
                self.say(f"heartbeats stopped: {error}. Training continues unguarded.")
                return
            except Exception as error:  # a dead heartbeat thread would get the run released
                self.say(f"heartbeat failed ({type(error).__name__}: {error}); retrying")
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def _try(self, call: Callable[[], Any]) -> bool:
        try:
            call()
        except ApiUnreachable as error:
            self.say(f"guardrails API unreachable, training continues: {error}")
            return False
        except ApiError as error:
            self.say(f"guardrails API refused an update: {error}")
            return False
        return True
