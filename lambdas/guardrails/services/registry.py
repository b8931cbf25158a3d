"""The training registry: one live run per instance, queued runs, heartbeats, checkpoints,
and the termination protection that follows from them."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from guardrails.adapters import ec2
from guardrails.adapters.runs import RunStore
from guardrails.constants import SERVICE_NAME
from guardrails.domain.instance import SPOT
from guardrails.domain.runs import (
    QUEUED,
    RUNNING,
    Checkpoint,
    LockHeld,
    Protection,
    Run,
    new_run_id,
    next_queued,
    protection_needed,
)

logger = Logger(service=SERVICE_NAME, child=True)
SYNC_ROUNDS = 3


@dataclass(frozen=True)
class RunRequest:
    pid: int
    command: str
    total_epochs: int
    checkpoint_interval: int = 1
    queue: bool = False
    budget_usd: Decimal | None = None


def start_run(store: RunStore, instance_id: str, request: RunRequest, now: datetime) -> Run:
    """Take the instance for a new run, or queue it behind the live one when asked to."""
    run = Run(instance_id=instance_id, run_id=new_run_id(now, secrets.token_hex(3)),
              pid=request.pid, command=request.command, status=RUNNING, created_at=now,
              total_epochs=request.total_epochs,
              checkpoint_interval=request.checkpoint_interval, started_at=now,
              budget_usd=request.budget_usd)
    try:
        store.start(run)
    except LockHeld:
        if not request.queue:
            raise
        run = replace(run, status=QUEUED, started_at=None)
        store.enqueue(run)
        # The live run may have finished between the two writes; then nobody would promote us.
        if promote_next(store, instance_id, now) is not None:
            sync_protection(store, instance_id)
        return store.collection(instance_id).run(run.run_id) or run
    sync_protection(store, instance_id)
    return run


def heartbeat(store: RunStore, instance_id: str, run_id: str, epoch: int, step: int,
              metrics: Mapping[str, float], now: datetime) -> None:
    store.heartbeat(instance_id, run_id, epoch, step, metrics, now)


def record_checkpoint(store: RunStore, ckpt: Checkpoint) -> Protection:
    store.put_checkpoint(ckpt)
    return sync_protection(store, ckpt.instance_id)


def finish_run(store: RunStore, instance_id: str, run_id: str, status: str,
               now: datetime) -> Run | None:
    """End the run, release the LOCK, and start the next queued run. Returns that run."""
    store.finish(instance_id, run_id, status, now)
    promoted = promote_next(store, instance_id, now)
    sync_protection(store, instance_id)
    return promoted


def promote_next(store: RunStore, instance_id: str, now: datetime) -> Run | None:
    """Hand a free LOCK to the oldest queued run, if there is one."""
    collection = store.collection(instance_id)
    if collection.lock is not None:
        return None
    candidate = next_queued(collection.runs)
    if candidate is None or not store.promote(candidate, now):
        return None
    logger.info("queued run promoted", instance_id=instance_id, run_id=candidate.run_id)
    return replace(candidate, status=RUNNING, started_at=now)


def sync_protection(store: RunStore, instance_id: str) -> Protection:
    """Set DisableApiTermination to what the live run and the checkpoints require.

    Read, write, read again: two requests that change the instance at once (a finish and a
    start) can each read the other's old state, so this repeats until what it read is what
    EC2 has. A failed EC2 call is logged, not raised: the run is registered either way, and
    the stored flag stays as it was, so the next change tries again."""
    wanted = Protection(False, ())
    for _ in range(SYNC_ROUNDS):
        view = store.collection(instance_id)
        wanted = protection_needed(view.lock, view.checkpoints)
        if view.record is not None and view.record.facts.lifecycle == SPOT:
            return wanted  # EC2 refuses termination protection on spot instances
        if view.protected is wanted.needed:
            return wanted
        try:
            ec2.set_termination_protection(instance_id, wanted.needed)
        except ClientError as error:
            logger.error("could not change termination protection", instance_id=instance_id,
                         wanted=wanted.needed, error=str(error))
            return wanted
        store.set_protected(instance_id, wanted.needed)
        logger.info("termination protection changed", instance_id=instance_id,
                    protected=wanted.needed, reasons=list(wanted.reasons))
    return wanted
