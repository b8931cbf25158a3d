"""The events the functions accept, as pydantic models.

The envelope mirrors Powertools' EventBridgeModel. It is declared here rather than imported,
because importing anything from `aws_lambda_powertools.utilities.parser` loads the whole
parser package and every event model it ships: about 65 ms more per cold start (bench/sweep.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from guardrails.routing import EC2_STATE_CHANGE_DETAIL_TYPE

MAX_CLOCK_SKEW = timedelta(minutes=5)
INSTANCE_ID_PATTERN = r"^i-[0-9a-f]{8}([0-9a-f]{9})?$"
Ec2State = Literal["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]


class EventRejected(ValueError):
    """The event cannot be used. The message says why, in words a person can act on."""


def strip_text(value: object) -> object:
    # An AWS docs sample carries " i-..." with a stray space; the id itself is fine.
    return value.strip() if isinstance(value, str) else value


def require_iso(value: object) -> object:
    # pydantic would read a bare number as epoch seconds; EventBridge always sends ISO 8601.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time such as 2026-11-02T09:00:00Z")
    return value


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class StateChangeDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    instance_id: str = Field(alias="instance-id", pattern=INSTANCE_ID_PATTERN)
    state: Ec2State

    _strip_id = field_validator("instance_id", mode="before")(strip_text)


class StateChangeEvent(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    # Real events always carry version "0"; some documentation samples omit it.
    version: str = "0"
    id: str
    detail_type: Literal["EC2 Instance State-change Notification"] = Field(alias="detail-type")
    source: Literal["aws.ec2"]
    account: str
    time: datetime
    region: str
    resources: list[str] = Field(default_factory=list)
    detail: StateChangeDetail

    _iso = field_validator("time", mode="before")(require_iso)
    _tz = field_validator("time")(as_utc)


class SweepOne(BaseModel):
    """The input a one-time schedule sends: sweep this instance for this crossing."""

    model_config = ConfigDict(extra="ignore")

    instance_id: str = Field(pattern=INSTANCE_ID_PATTERN)
    rule: str | None = None
    step: int | None = None
    due: datetime | None = None

    _strip_id = field_validator("instance_id", mode="before")(strip_text)


def describe_errors(error: ValidationError) -> str:
    """Pydantic's errors as one readable line: field path and what was wrong."""
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "event"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def parse_state_change(event: object, now: datetime) -> StateChangeEvent:
    if not isinstance(event, dict):
        raise EventRejected(f"expected a JSON object, got {type(event).__name__}")
    if event.get("detail-type") != EC2_STATE_CHANGE_DETAIL_TYPE:
        raise EventRejected(
            f"not an EC2 state-change event (detail-type {event.get('detail-type')!r})")
    try:
        change = StateChangeEvent.model_validate(event)
    except ValidationError as error:
        raise EventRejected(describe_errors(error)) from error
    reject_future(change.time, now)
    return change


def reject_future(time: datetime, now: datetime) -> None:
    """An event from the future would write figures nobody can trust yet."""
    if time > now + MAX_CLOCK_SKEW:
        raise EventRejected(f"time: {time.isoformat()} is in the future "
                            f"(now {now.isoformat()}); check the event source's clock")


def parse_sweep_request(event: object) -> SweepOne | None:
    """None for the periodic sweep of everything, SweepOne for a crossing schedule."""
    if not isinstance(event, dict):
        raise EventRejected(f"expected a JSON object, got {type(event).__name__}")
    if "instance_id" not in event:
        if event.get("detail-type") == "Scheduled Event" or not event:
            return None
        raise EventRejected("neither a scheduled event nor a request naming instance_id")
    try:
        return SweepOne.model_validate(event)
    except ValidationError as error:
        raise EventRejected(describe_errors(error)) from error
