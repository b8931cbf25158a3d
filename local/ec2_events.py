"""An EC2 event source for the emulator, which emits none: it watches the instances and
turns every state transition into an `EC2 Instance State-change Notification` in the real
EventBridge envelope."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from guardrails.routing import EC2_STATE_CHANGE_DETAIL_TYPE
from local.resources import ACCOUNT, REGION

# The states EC2 passes through on the way to each one (moto jumps straight there).
ON_THE_WAY = {"running": ["pending"], "stopped": ["stopping"], "terminated": ["shutting-down"]}


def state_change(instance_id: str, state: str, at: datetime) -> dict[str, Any]:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": EC2_STATE_CHANGE_DETAIL_TYPE,
        "source": "aws.ec2", "account": ACCOUNT, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }


class Ec2EventSource:
    def __init__(self, ec2: Any, now: Callable[[], datetime],
                 deliver: Callable[[dict[str, Any]], None]) -> None:
        self.ec2, self.now, self.deliver = ec2, now, deliver
        self.known: dict[str, str] = {}

    def poll(self) -> int:
        """Emit the transitions since the last poll; returns how many events were sent."""
        sent = 0
        for page in self.ec2.get_paginator("describe_instances").paginate():
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    iid, state = instance["InstanceId"], instance["State"]["Name"]
                    before = self.known.get(iid)
                    if before == state:
                        continue
                    self.known[iid] = state
                    steps = [s for s in ON_THE_WAY.get(state, []) if s != before] + [state]
                    for step in steps:
                        self.deliver(state_change(iid, step, self.now()))
                        sent += 1
        return sent
