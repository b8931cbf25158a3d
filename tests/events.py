"""Real AWS event samples (../shared/events), adapted to the case at hand."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "events"


@cache
def _load(name: str) -> dict[str, Any]:
    path = SAMPLES / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the tests read the AWS event samples in ../shared/events "
            "beside the repository")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of a sample, byte for byte as found."""
    return copy.deepcopy(_load(name))


def state_change(instance_id: str, state: str, at: datetime,
                 region: str = "us-east-1") -> dict[str, Any]:
    """The documented `terminated` sample, carrying this instance, state and time."""
    event = sample("ec2-state-terminated.json")
    event["detail"] = {"instance-id": instance_id, "state": state}
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["region"] = region
    event["resources"] = [f"arn:aws:ec2:{region}:123456789012:instance/{instance_id}"]
    return event


def spot_warning(instance_id: str, at: datetime, action: str = "terminate") -> dict[str, Any]:
    """The captured spot interruption warning, for this instance and time."""
    event = sample("spot-interruption-warning.json")
    event["detail"] = {"instance-id": instance_id, "instance-action": action}
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def protection_change(instance_id: str, at: datetime, *, disabled: bool,
                      role_arn: str | None = None, error: str | None = None) -> dict[str, Any]:
    """The captured ModifyInstanceAttribute CloudTrail record in the captured EventBridge
    CloudTrail envelope, changing DisableApiTermination. `role_arn`: the caller is a session
    of that role (otherwise the record's IAM user)."""
    event = sample("cloudtrail-eventbridge-ec2-delete-tgw-vpc-attachment.json")
    record = sample("cloudtrail-record-modify-instance-attribute.json")
    record["requestParameters"] = {"instanceId": instance_id,
                                   "disableApiTermination": {"value": not disabled}}
    if role_arn is not None:
        name = role_arn.rsplit("/", 1)[-1]
        record["userIdentity"] = {
            "type": "AssumedRole", "arn": f"arn:aws:sts::123456789012:assumed-role/{name}/fn",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn}}}
    if error is not None:
        record["errorCode"] = error
    event["detail"] = record
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return event
