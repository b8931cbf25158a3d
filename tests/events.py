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
