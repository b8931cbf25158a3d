"""Spot interruption warnings and CloudTrail ModifyInstanceAttribute calls -> the guards."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from guardrails.adapters import clock
from guardrails.adapters.notifier import Notifier
from guardrails.adapters.runs import RunStore
from guardrails.constants import SERVICE_NAME
from guardrails.events import EventRejected
from guardrails.guard_events import SpotWarningEvent, parse_guard_event
from guardrails.services import guards
from guardrails.settings import Settings

logger = Logger(service=SERVICE_NAME)


@cache
def services() -> guards.Guards:
    settings = Settings.from_env()
    return guards.Guards(store=RunStore(settings.table_name),
                         notifier=Notifier(settings.alerts_topic_arn),
                         bucket=settings.checkpoint_bucket,
                         trusted_roles=settings.trusted_roles)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = clock.now()
    try:
        parsed = parse_guard_event(event, now)
    except EventRejected as rejected:
        logger.warning("event rejected, nothing written", reason=str(rejected))
        return {"status": "rejected", "reason": str(rejected)}
    if isinstance(parsed, SpotWarningEvent):
        detail = parsed.detail
        asked = guards.on_spot_warning(services(), detail.instance_id, detail.instance_action,
                                       parsed.id, now)
        logger.info("spot interruption handled", instance_id=detail.instance_id, asked=asked)
        return {"status": "spot-interruption", "asked": asked}
    alerted = guards.on_protection_change(services(), parsed.detail, now)
    logger.info("instance attribute change seen", event_id=parsed.detail.eventID,
                alerted=alerted)
    return {"status": "alerted" if alerted else "ignored"}
