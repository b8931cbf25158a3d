"""The events of the reactive guards (issue 4): spot interruption warnings, and CloudTrail
calls delivered by EventBridge. Apart from events.py so on_state_change does not load them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from guardrails.events import (
    INSTANCE_ID_PATTERN,
    EventRejected,
    as_utc,
    describe_errors,
    reject_future,
    require_iso,
    strip_text,
)
from guardrails.routing import CLOUDTRAIL_DETAIL_TYPE, SPOT_WARNING_DETAIL_TYPE


class _Envelope(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    source: Literal["aws.ec2"]
    time: datetime

    _iso = field_validator("time", mode="before")(require_iso)
    _tz = field_validator("time")(as_utc)


class SpotWarningDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    instance_id: str = Field(alias="instance-id", pattern=INSTANCE_ID_PATTERN)
    instance_action: Literal["terminate", "stop", "hibernate"] = Field(alias="instance-action")

    _strip_id = field_validator("instance_id", mode="before")(strip_text)


class SpotWarningEvent(_Envelope):
    detail_type: Literal["EC2 Spot Instance Interruption Warning"] = Field(alias="detail-type")
    detail: SpotWarningDetail


class CloudTrailCall(BaseModel):
    """The CloudTrail record EventBridge puts in `detail` (only what the guard reads)."""

    model_config = ConfigDict(extra="ignore")

    eventID: str
    eventName: str
    errorCode: str | None = None
    userIdentity: dict[str, object] = Field(default_factory=dict)
    requestParameters: dict[str, object] | None = None

    @property
    def caller_arn(self) -> str:
        return str(self.userIdentity.get("arn") or self.userIdentity.get("type") or "unknown")

    @property
    def issuer_arn(self) -> str | None:
        """The role behind an assumed-role session (what the stack's roles are)."""
        context = self.userIdentity.get("sessionContext")
        issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
        arn = issuer.get("arn") if isinstance(issuer, dict) else None
        return str(arn) if arn else None


class CloudTrailEvent(_Envelope):
    detail_type: Literal["AWS API Call via CloudTrail"] = Field(alias="detail-type")
    detail: CloudTrailCall


def parse_guard_event(event: object, now: datetime) -> SpotWarningEvent | CloudTrailEvent:
    if not isinstance(event, dict):
        raise EventRejected(f"expected a JSON object, got {type(event).__name__}")
    kinds: dict[object, type[SpotWarningEvent] | type[CloudTrailEvent]] = {
        SPOT_WARNING_DETAIL_TYPE: SpotWarningEvent, CLOUDTRAIL_DETAIL_TYPE: CloudTrailEvent}
    kind = kinds.get(event.get("detail-type"))
    if kind is None:
        raise EventRejected(f"not an event the guards handle (detail-type "
                            f"{event.get('detail-type')!r})")
    try:
        parsed = kind.model_validate(event)
    except ValidationError as error:
        raise EventRejected(describe_errors(error)) from error
    reject_future(parsed.time, now)
    return parsed
