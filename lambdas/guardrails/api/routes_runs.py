"""Write routes: only the instance itself may call them (see api/identity.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from guardrails.adapters import clock
from guardrails.api import context
from guardrails.api.identity import require_instance
from guardrails.api.models import (
    AckOut,
    CheckpointBody,
    FinishBody,
    FinishOut,
    HeartbeatBody,
    StartRunBody,
    StartRunOut,
)
from guardrails.api.views import run_out
from guardrails.constants import SERVICE_NAME
from guardrails.domain.runs import QUEUED, Checkpoint
from guardrails.events import INSTANCE_ID_PATTERN
from guardrails.routing import resolver_path
from guardrails.services import budgets, registry

router = APIGatewayRouter()
logger = Logger(service=SERVICE_NAME, child=True)
InstancePath = Annotated[str, Path(pattern=INSTANCE_ID_PATTERN)]
RunPath = Annotated[str, Path(pattern=r"^[0-9T]{21}-[0-9a-f]{6}$")]


def _caller_is(instance_id: str) -> None:
    require_instance(router.current_event.request_context.raw_event, instance_id,
                     context.settings().instance_role_name)


@router.post(resolver_path("start_run"), summary="Start a training run (or queue it)",
             responses={201: {"description": "started or queued"},
                        409: {"description": "a run is live; names it"}})
def start_run(instance_id: InstancePath, body: StartRunBody) -> tuple[StartRunOut, int]:
    _caller_is(instance_id)
    store = context.store()
    run = registry.start_run(store, instance_id, registry.RunRequest(
        pid=body.pid, command=body.command, total_epochs=body.total_epochs,
        checkpoint_interval=body.checkpoint_interval, queue=body.queue,
        budget_usd=Decimal(str(body.budget_usd)) if body.budget_usd else None), clock.now())
    return StartRunOut(run=run_out(run), queued=run.status == QUEUED,
                       protected=store.collection(instance_id).protected), 201


@router.post(resolver_path("heartbeat"), summary="Report progress of a live run")
def heartbeat(instance_id: InstancePath, run_id: RunPath, body: HeartbeatBody) -> AckOut:
    _caller_is(instance_id)
    now = clock.now()
    registry.heartbeat(context.store(), instance_id, run_id, body.epoch, body.step,
                       body.metrics, now)
    try:
        budgets.check(context.store(), context.notifier(), instance_id, run_id, now)
    except Exception:  # the heartbeat is recorded; the next one tries the alert again
        logger.exception("run budget check failed", instance_id=instance_id, run_id=run_id)
    return AckOut()


@router.post(resolver_path("record_checkpoint"), summary="Record a checkpoint (and its S3 copy)",
             responses={201: {"description": "recorded"}})
def record_checkpoint(instance_id: InstancePath, run_id: RunPath,
                      body: CheckpointBody) -> tuple[AckOut, int]:
    _caller_is(instance_id)
    protection = registry.record_checkpoint(context.store(), Checkpoint(
        instance_id=instance_id, run_id=run_id, epoch=body.epoch, path=body.path,
        size_bytes=body.bytes, sha256=body.sha256, recorded_at=clock.now(),
        s3_uri=body.s3_uri))
    return AckOut(protected=protection.needed,
                  protection_reasons=list(protection.reasons)), 201


@router.post(resolver_path("finish_run"), summary="Finish a run; the next queued run starts")
def finish_run(instance_id: InstancePath, run_id: RunPath, body: FinishBody) -> FinishOut:
    _caller_is(instance_id)
    promoted = registry.finish_run(context.store(), instance_id, run_id, body.status,
                                   clock.now())
    return FinishOut(run_id=run_id, status=body.status,
                     promoted=run_out(promoted) if promoted else None)
