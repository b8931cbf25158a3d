"""DescribeInstances, turned into InstanceFacts."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from guardrails.adapters.clients import client
from guardrails.domain.instance import ON_DEMAND, SPOT, InstanceFacts

DESCRIBE_PAGE_SIZE = 1000  # the most DescribeInstances returns per call
_REASON_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")


class Ec2:
    @property
    def _ec2(self) -> Any:
        return client("ec2")

    def describe(self, instance_id: str) -> InstanceFacts | None:
        """One instance, or None if EC2 no longer knows it."""
        try:
            answer = self._ec2.describe_instances(InstanceIds=[instance_id])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "InvalidInstanceID.NotFound":
                return None
            raise
        found = [facts for facts in self._facts(answer)]
        return found[0] if found else None

    def running(self) -> Iterator[InstanceFacts]:
        """Every running instance, DESCRIBE_PAGE_SIZE per call."""
        pages = self._ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}],
            PaginationConfig={"PageSize": DESCRIBE_PAGE_SIZE},
        )
        for page in pages:
            yield from self._facts(page)

    def _facts(self, answer: Mapping[str, Any]) -> Iterator[InstanceFacts]:
        region = str(self._ec2.meta.region_name)
        for reservation in answer.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                yield facts_from_instance(instance, region)


def facts_from_instance(instance: Mapping[str, Any], region: str) -> InstanceFacts:
    return InstanceFacts(
        instance_id=instance["InstanceId"],
        instance_type=instance["InstanceType"],
        lifecycle=SPOT if instance.get("InstanceLifecycle") == "spot" else ON_DEMAND,
        availability_zone=instance.get("Placement", {}).get("AvailabilityZone", ""),
        region=region,
        tags={t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])},
        state=instance.get("State", {}).get("Name"),
        launch_time=instance.get("LaunchTime"),
        stopped_at=_reason_time(instance.get("StateTransitionReason", "")),
    )


def _reason_time(reason: str) -> datetime | None:
    """EC2 writes e.g. 'User initiated (2024-05-23 17:27:19 GMT)' when an instance stops."""
    match = _REASON_TIME.search(reason or "")
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def set_termination_protection(instance_id: str, protected: bool) -> None:
    """DisableApiTermination: while on, a plain TerminateInstances fails inside AWS."""
    client("ec2").modify_instance_attribute(
        InstanceId=instance_id, DisableApiTermination={"Value": protected})


def terminate(instance_id: str) -> None:
    client("ec2").terminate_instances(InstanceIds=[instance_id])


def stop(instance_id: str) -> None:
    client("ec2").stop_instances(InstanceIds=[instance_id])
