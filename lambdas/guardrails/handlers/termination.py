"""The pre-termination workflow's tasks: each state of workflow/definition.py invokes one of
these (one Lambda function each). Each reads the workflow state and returns its own part."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from guardrails.adapters import clock
from guardrails.adapters.audit import AuditLog
from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.constants import SERVICE_NAME
from guardrails.services import termination as steps
from guardrails.settings import Settings
from guardrails.workflow.models import WorkflowState

logger = Logger(service=SERVICE_NAME)


@cache
def workflow() -> steps.Workflow:
    settings = Settings.from_env()
    return steps.Workflow(
        store=RunStore(settings.table_name), audit=AuditLog(settings.table_name),
        notifier=Notifier(settings.alerts_topic_arn), bucket=settings.checkpoint_bucket,
        upload_timeout=timedelta(seconds=settings.upload_timeout_seconds),
        poll_seconds=settings.upload_poll_seconds)


def _state(event: dict[str, Any]) -> WorkflowState:
    # A malformed state raises ValidationError: the workflow catches it and records a failure.
    state = WorkflowState.model_validate(event)
    logger.append_keys(instance_id=state.request.instance_id, execution=state.execution)
    return state


@logger.inject_lambda_context
def check(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    decision = steps.assess(workflow(), _state(event))
    logger.info("termination checked", outcome=decision.outcome, proceed=decision.proceed,
                reasons=decision.reasons)
    return decision.model_dump()


@logger.inject_lambda_context
def upload(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    progress = steps.advance_upload(workflow(), _state(event), clock.now())
    logger.info("checkpoint upload", state=progress.state, problem=progress.problem)
    return progress.model_dump()


@logger.inject_lambda_context
def verify(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    found = steps.verify(workflow(), _state(event))
    logger.info("uploads verified", recorded=found.recorded, problems=found.problems)
    return found.model_dump()


@logger.inject_lambda_context
def terminate(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = steps.terminate(workflow(), _state(event), clock.now())
    logger.info("instance terminated", audit_id=outcome.audit_id, forced=outcome.forced)
    return outcome.model_dump()


@logger.inject_lambda_context
def record_blocked(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = steps.record_blocked(workflow(), _state(event), clock.now())
    logger.info("termination blocked", audit_id=outcome.audit_id, reasons=outcome.reasons)
    return outcome.model_dump()


@logger.inject_lambda_context
def record_failure(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = steps.record_failure(workflow(), _state(event), clock.now())
    logger.error("termination workflow failed", audit_id=outcome.audit_id,
                 detail=outcome.message)
    return outcome.model_dump()
