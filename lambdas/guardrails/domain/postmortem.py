"""What a termination that went around the workflow cost: the runs and checkpoints lost, the
last epoch, and the dollars spent since the last checkpoint that is safe in S3."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from guardrails.domain.audit import BY_WORKFLOW, Audit
from guardrails.domain.ledger import Ledger
from guardrails.domain.runs import Checkpoint, Lock, Run

# A workflow termination shows up as shutting-down within seconds; an hour is generous, and an
# older audit whose outcome was never updated cannot silence a later bypass.
WORKFLOW_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class PostMortem:
    instance_id: str
    live_runs: tuple[Run, ...]
    lost_checkpoints: tuple[Checkpoint, ...]
    last_epoch: int | None
    last_safe_epoch: int | None
    last_safe_at: datetime | None
    usd_since_safe: Decimal | None


def post_mortem(instance_id: str, lock: Lock | None, runs: Sequence[Run],
                checkpoints: Sequence[Checkpoint], audits: Iterable[Audit],
                ledger: Ledger | None, at: datetime) -> PostMortem | None:
    """None when nothing was lost, or when the workflow itself terminated the instance in the
    last hour (its own audit and notice already say so, forced or not)."""
    if any(a.outcome in BY_WORKFLOW and at - WORKFLOW_WINDOW <= a.at <= at + WORKFLOW_WINDOW
           for a in audits):
        return None
    live = tuple(r for r in runs if lock is not None and r.run_id == lock.run_id)
    lost = tuple(c for c in checkpoints if not c.uploaded)
    if not live and not lost:
        return None
    affected = {r.run_id for r in live} | {c.run_id for c in lost}
    safe = [c for c in checkpoints if c.uploaded and c.run_id in affected]
    newest_safe = max(safe, key=lambda c: (c.recorded_at, c.epoch)) if safe else None
    starts = [r.started_at or r.created_at for r in runs if r.run_id in affected]
    since = newest_safe.recorded_at if newest_safe else (min(starts) if starts else None)
    epochs = [r.epoch for r in live] + [c.epoch for c in lost]
    return PostMortem(
        instance_id=instance_id, live_runs=live, lost_checkpoints=lost,
        last_epoch=max(epochs) if epochs else None,
        last_safe_epoch=newest_safe.epoch if newest_safe else None,
        last_safe_at=newest_safe.recorded_at if newest_safe else None,
        usd_since_safe=(ledger.cost_between(since, at)
                        if ledger is not None and since is not None else None))
