"""Training runs and checkpoints: what is live, what is safe, how far along."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Final

RUNNING: Final = "running"
QUEUED: Final = "queued"
FINISHED: Final = "finished"
FAILED: Final = "failed"
STALE: Final = "stale"
ENDED: Final = frozenset({FINISHED, FAILED, STALE})


@dataclass(frozen=True)
class Run:
    instance_id: str
    run_id: str
    pid: int
    command: str
    status: str
    created_at: datetime
    total_epochs: int
    checkpoint_interval: int = 1
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    epoch: int = 0
    step: int = 0
    metrics: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    ended_at: datetime | None = None
    budget_usd: Decimal | None = None


@dataclass(frozen=True)
class Checkpoint:
    instance_id: str
    run_id: str
    epoch: int
    path: str
    size_bytes: int
    sha256: str
    recorded_at: datetime
    s3_uri: str | None = None

    @property
    def uploaded(self) -> bool:
        return self.s3_uri is not None


@dataclass(frozen=True)
class Lock:
    """Who holds the instance: the one live run."""

    run_id: str
    pid: int
    acquired_at: datetime
    heartbeat_at: datetime | None = None


@dataclass(frozen=True)
class Progress:
    epoch: int
    total: int
    seconds_per_epoch: float | None
    eta: datetime | None

    @property
    def fraction(self) -> float:
        return min(1.0, self.epoch / self.total) if self.total else 0.0


def checkpoint_s3_uri(bucket: str, instance_id: str, run_id: str, path: str) -> str:
    """Where checkpoints go, from the agent or an upload: s3://bucket/<instance>/<run>/<file>."""
    return f"s3://{bucket}/{instance_id}/{run_id}/{PurePosixPath(path).name}"


def new_run_id(now: datetime, token: str) -> str:
    """Sortable by start time, so queued runs are promoted in the order they asked."""
    return f"{now:%Y%m%dT%H%M%S%f}-{token}"


def progress(run: Run) -> Progress:
    """Epochs done, and an ETA from the pace between the start and the latest heartbeat."""
    pace: float | None = None
    eta: datetime | None = None
    if run.started_at and run.heartbeat_at and run.epoch > 0:
        pace = (run.heartbeat_at - run.started_at).total_seconds() / run.epoch
        remaining = max(0, run.total_epochs - run.epoch)
        eta = run.heartbeat_at + timedelta(seconds=pace * remaining)
    return Progress(run.epoch, run.total_epochs, pace, eta)


@dataclass(frozen=True)
class Protection:
    needed: bool
    reasons: tuple[str, ...]


def protection_needed(lock: Lock | None, checkpoints: Iterable[Checkpoint]) -> Protection:
    """Termination protection is on while a run is live or a checkpoint is only on disk."""
    reasons: list[str] = []
    if lock is not None:
        reasons.append(f"run {lock.run_id} (pid {lock.pid}) is live")
    for ckpt in checkpoints:
        if not ckpt.uploaded:
            reasons.append(f"checkpoint {ckpt.path} of run {ckpt.run_id} (epoch {ckpt.epoch}) "
                           "is not in S3")
    return Protection(bool(reasons), tuple(reasons))


def next_queued(runs: Iterable[Run]) -> Run | None:
    queued = [r for r in runs if r.status == QUEUED]
    return min(queued, key=lambda r: (r.created_at, r.run_id)) if queued else None


class RegistryError(Exception):
    """A request the registry refuses; the API turns each kind into one HTTP status."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class LockHeld(RegistryError):
    def __init__(self, instance_id: str, lock: Lock | None) -> None:
        live = f"run {lock.run_id} (pid {lock.pid})" if lock else "another run"
        super().__init__(f"{instance_id} already has a live training run: {live}",
                         "wait for it to finish, stop it, or pass queue=true to run after it")
        self.lock = lock


class RunNotFound(RegistryError):
    pass


class RunNotLive(RegistryError):
    pass
