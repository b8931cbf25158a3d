"""Terminate through the pre-termination workflow, and poll an execution that is still going.
Open to any IAM-authorized caller; the caller's ARN is audited."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from guardrails.adapters import clock
from guardrails.adapters.workflow import TerminationWorkflow, execution_name
from guardrails.api import context
from guardrails.api.errors import NotFound, Unavailable, execution_answer
from guardrails.events import INSTANCE_ID_PATTERN
from guardrails.routing import resolver_path
from guardrails.workflow.models import TerminateOptions

router = APIGatewayRouter()
InstancePath = Annotated[str, Path(pattern=INSTANCE_ID_PATTERN)]
ExecutionPath = Annotated[str, Path(pattern=r"^i-[0-9a-f]{8,17}-[0-9T]{15}-[0-9a-f]{6}$")]


def _workflow() -> TerminationWorkflow:
    arn = context.settings().state_machine_arn
    if not arn:
        raise Unavailable("terminate is not available: the API does not know the workflow",
                          "set STATE_MACHINE_ARN on the API function (the stack does)")
    return TerminationWorkflow(arn)


@router.post(resolver_path("terminate_instance"),
             summary="Terminate, unless it would lose a live run or a checkpoint",
             responses={200: {"description": "terminated; the audit id"},
                        202: {"description": "uploading checkpoints; poll the execution"},
                        409: {"description": "blocked; the reasons and what to do"},
                        422: {"description": "invalid body (force needs a reason)"},
                        502: {"description": "the workflow failed; nothing was terminated"}})
def terminate_instance(instance_id: InstancePath, body: TerminateOptions) -> Response[str]:
    workflow = _workflow()
    caller = (router.current_event.request_context.raw_event.get("identity") or {})
    name = execution_name(instance_id, clock.now())
    workflow.start(name, {"instance_id": instance_id, "force": body.force,
                          "reason": body.reason, "upload_checkpoints": body.upload_checkpoints,
                          "caller": caller.get("userArn") or caller.get("caller") or "unknown"})
    execution = workflow.wait(name, context.settings().terminate_wait_seconds)
    if execution is None:
        raise NotFound(f"execution {name} vanished", "retry the terminate request")
    return execution_answer(instance_id, execution)


@router.get(resolver_path("get_termination"), summary="How a terminate request is going",
            responses={404: {"description": "no such execution for this instance"}})
def get_termination(instance_id: InstancePath, execution: ExecutionPath) -> Response[str]:
    if not execution.startswith(f"{instance_id}-"):
        raise NotFound(f"{execution} is not a terminate request for {instance_id}",
                       "use the execution id the terminate answer gave")
    found = _workflow().describe(execution)
    if found is None:
        raise NotFound(f"no terminate request {execution}",
                       "use the execution id the terminate answer gave")
    return execution_answer(instance_id, found)
