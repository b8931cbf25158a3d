"""Postpone the hard limits' stop of an instance (issue 5). Any IAM caller; audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field

from guardrails.adapters import clock
from guardrails.adapters.audit import AuditLog
from guardrails.api import context
from guardrails.api.errors import ApiRefusal, NotFound
from guardrails.domain.audit import Audit
from guardrails.events import INSTANCE_ID_PATTERN
from guardrails.routing import resolver_path

router = APIGatewayRouter()


class SnoozeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours: float = Field(gt=0, le=24 * 30, allow_inf_nan=False,
                         description="postpone the stop this many hours from now")
    reason: str = Field(min_length=1, max_length=500, pattern=r"\S",
                        description="why (audited)")


class SnoozeOut(BaseModel):
    instance_id: str
    snoozed_until: str
    audit_id: str


class SnoozeTooLong(ApiRefusal):
    status = 422
    code = "snooze_too_long"


@router.post(resolver_path("snooze_instance"), summary="Postpone a hard-limit stop",
             responses={404: {"description": "not tracked"},
                        422: {"description": "invalid, or beyond max_snooze_hours"}})
def snooze_instance(instance_id: Annotated[str, Path(pattern=INSTANCE_ID_PATTERN)],
                    body: SnoozeBody) -> SnoozeOut:
    settings, now = context.settings(), clock.now()
    if body.hours > settings.max_snooze_hours:
        raise SnoozeTooLong(
            f"hours: {body.hours:g} is more than the {settings.max_snooze_hours} h snooze cap",
            f"snooze at most {settings.max_snooze_hours} h (max_snooze_hours); snooze again "
            "later, or raise the instance's limit with its tag")
    store = context.store()
    if store.collection(instance_id).record is None:
        raise NotFound(f"{instance_id} is not tracked",
                       "the guardrails track an instance from its first state change")
    until = now + timedelta(hours=body.hours)
    identity = router.current_event.request_context.raw_event.get("identity") or {}
    caller = str(identity.get("userArn") or "unknown")
    store.set_snooze(instance_id, until, caller, body.reason, now)
    audit_id = AuditLog(settings.table_name).write(Audit(
        instance_id=instance_id, at=now, execution="snooze", caller=caller, force=False,
        reason=body.reason, decision="snooze", outcome="snoozed",
        detail=f"stops postponed until {until.isoformat()}"))
    return SnoozeOut(instance_id=instance_id, snoozed_until=until.isoformat(),
                     audit_id=audit_id)
