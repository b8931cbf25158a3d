"""Read routes: open to any IAM-authorized caller."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from guardrails.adapters import clock
from guardrails.api import context
from guardrails.api.errors import NotFound
from guardrails.api.models import InstanceDetailOut, InstanceOut
from guardrails.api.views import instance_detail, instance_out
from guardrails.events import INSTANCE_ID_PATTERN
from guardrails.routing import resolver_path

router = APIGatewayRouter()


@router.get(resolver_path("list_instances"), summary="Every tracked instance")
def list_instances() -> list[InstanceOut]:
    store, now = context.store(), clock.now()
    views = list(store.tracked_instances())
    live = store.runs_by_id([(v.instance_id, v.lock.run_id) for v in views if v.lock])
    return [
        instance_out(v, live.get((v.instance_id, v.lock.run_id)) if v.lock else None, now)
        for v in sorted(views, key=lambda v: v.instance_id)
    ]


@router.get(resolver_path("get_instance"), summary="One instance with its runs and checkpoints")
def get_instance(
    instance_id: Annotated[str, Path(pattern=INSTANCE_ID_PATTERN)],
) -> InstanceDetailOut:
    view = context.store().collection(instance_id)
    if view.record is None and not view.runs and view.lock is None:
        raise NotFound(f"{instance_id} is not tracked",
                       "the guardrails track an instance from its first state change")
    return instance_detail(view, clock.now())
