"""An EC2 event source for the emulator, which emits none: it watches the instances and
turns every state transition into an `EC2 Instance State-change Notification` in the real
EventBridge envelope, stamped with the time of the transition (not of the poll that saw it:
at a high `--speed`, one slow poll is simulated hours)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from guardrails.routing import EC2_STATE_CHANGE_DETAIL_TYPE
from local.resources import ACCOUNT, REGION

# The states EC2 passes through on the way to each one (moto jumps straight there).
ON_THE_WAY = {"running": ["pending"], "stopped": ["stopping"], "terminated": ["shutting-down"]}
# moto's StateTransitionReason of a stop or a terminate: "User initiated (2026-11-02 09:27:00 UTC)"
USER_INITIATED = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC\)")


def state_change(instance_id: str, state: str, at: datetime) -> dict[str, Any]:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": EC2_STATE_CHANGE_DETAIL_TYPE,
        "source": "aws.ec2", "account": ACCOUNT, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }


def event_time(event: dict[str, Any]) -> datetime:
    return datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def changed_at(instance: dict[str, Any], observed: datetime) -> datetime:
    """When the instance entered its current state, as EC2 reports it; else when it was seen."""
    state = instance["State"]["Name"]
    when: datetime | None = None
    if state == "running":
        when = instance.get("LaunchTime")
    else:
        found = USER_INITIATED.search(instance.get("StateTransitionReason") or "")
        if found:
            when = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return min(when, observed) if when is not None else observed


class Ec2EventSource:
    def __init__(self, ec2: Any, now: Callable[[], datetime]) -> None:
        self.ec2, self.now = ec2, now
        self.known: dict[str, str] = {}

    def poll(self) -> list[dict[str, Any]]:
        """The transitions since the last poll, in time order."""
        events = []
        observed = self.now()
        for page in self.ec2.get_paginator("describe_instances").paginate():
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    iid, state = instance["InstanceId"], instance["State"]["Name"]
                    before = self.known.get(iid)
                    if before == state:
                        continue
                    self.known[iid] = state
                    at = changed_at(instance, observed)
                    steps = [s for s in ON_THE_WAY.get(state, []) if s != before] + [state]
                    events += [state_change(iid, step, at) for step in steps]
        return sorted(events, key=event_time)  # stable: each path stays in its order
