"""What the API shows of an instance: accounting figures, warnings, runs and checkpoints."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from guardrails.adapters.runs import Collection
from guardrails.api.models import (
    CheckpointOut,
    InstanceDetailOut,
    InstanceOut,
    ProgressOut,
    RunOut,
)
from guardrails.domain.alerts import figures
from guardrails.domain.budget import forecast
from guardrails.domain.instance import SPOT
from guardrails.domain.ledger import Ledger
from guardrails.domain.runs import Checkpoint, Run, progress, protection_needed

MAX_LISTED = 200
SPOT_NOTE = ("spot instances cannot have termination protection: EC2 may reclaim them at any "
             "time, so upload checkpoints to S3 as you go")


def run_out(run: Run, ledger: Ledger | None = None, now: datetime | None = None) -> RunOut:
    p = progress(run)
    money = forecast(run, ledger, now) if now is not None else None
    return RunOut(
        budget_usd=_float(run.budget_usd),
        spent_usd=_float(money.spent_usd) if money else None,
        forecast_usd=_float(money.forecast_usd) if money else None,
        run_id=run.run_id, instance_id=run.instance_id, status=run.status, pid=run.pid,
        command=run.command, created_at=run.created_at, started_at=run.started_at,
        heartbeat_at=run.heartbeat_at, ended_at=run.ended_at, metrics=dict(run.metrics),
        progress=ProgressOut(epoch=p.epoch, total=p.total, fraction=p.fraction,
                             seconds_per_epoch=p.seconds_per_epoch, eta=p.eta),
    )


def checkpoint_out(ckpt: Checkpoint) -> CheckpointOut:
    return CheckpointOut(run_id=ckpt.run_id, epoch=ckpt.epoch, path=ckpt.path,
                         bytes=ckpt.size_bytes, sha256=ckpt.sha256, s3_uri=ckpt.s3_uri,
                         uploaded=ckpt.uploaded, recorded_at=ckpt.recorded_at)


def instance_out(view: Collection, live_run: Run | None, now: datetime) -> InstanceOut:
    record = view.record
    facts = record.facts if record else None
    seen = figures(record.ledger, now) if record else None
    spot = facts is not None and facts.lifecycle == SPOT
    return InstanceOut(
        instance_id=view.instance_id,
        instance_type=facts.instance_type if facts else None,
        lifecycle=facts.lifecycle if facts else None,
        state=record.ledger.state if record else None,
        uptime_hours=_round(seen.uptime_hours) if seen else None,
        accumulated_usd=_round(seen.accumulated_usd) if seen else None,
        rate_usd_per_hour=_round(seen.rate_usd_per_hour) if seen else None,
        warnings=sorted(record.alerted) if record else [],
        live_run=run_out(live_run, record.ledger if record else None, now) if live_run
        else None,
        protected=None if spot else view.protected,
        protection_note=SPOT_NOTE if spot else None,
    )


def instance_detail(view: Collection, now: datetime) -> InstanceDetailOut:
    live = view.run(view.lock.run_id) if view.lock else None
    summary = instance_out(view, live, now)
    runs = sorted(view.runs, key=lambda r: (r.created_at, r.run_id), reverse=True)
    checkpoints = sorted(view.checkpoints, key=lambda c: (c.run_id, c.epoch))
    return InstanceDetailOut(
        **summary.model_dump(),
        runs=[run_out(r, view.record.ledger if view.record else None, now)
              for r in runs[:MAX_LISTED]],
        runs_total=len(runs),
        # The newest: a long run checkpointing every epoch must not outgrow a response.
        checkpoints=[checkpoint_out(c) for c in checkpoints[-MAX_LISTED:]],
        checkpoints_total=len(checkpoints),
        protection_reasons=list(protection_needed(view.lock, view.checkpoints).reasons),
    )


def _round(value: object) -> float | None:
    return None if value is None else round(float(str(value)), 4)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else round(float(value), 2)
