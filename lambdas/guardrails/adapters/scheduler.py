"""One-time EventBridge Scheduler schedules that run `sweep` for one instance at a crossing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from guardrails.adapters.clients import client
from guardrails.constants import RULE_COST, RULE_UPTIME
from guardrails.domain.alerts import Crossing

SCHEDULED_RULES = (RULE_UPTIME, RULE_COST)


def schedule_name(instance_id: str, rule: str, step: int) -> str:
    # One name per crossing: a schedule never has to be moved while it is firing.
    return f"{instance_id}-{rule}-{step}"


def fire_time(at: datetime) -> datetime:
    """The crossing, rounded up to the whole minute. Scheduler fires somewhere within the
    minute it is given, so an earlier minute could fire before the level is reached."""
    whole = at.replace(second=0, microsecond=0)
    return whole if whole == at else whole + timedelta(minutes=1)


class AlertScheduler:
    def __init__(self, group: str, role_arn: str, target_arn: str) -> None:
        self.group = group
        self.role_arn = role_arn
        self.target_arn = target_arn

    @property
    def _scheduler(self) -> Any:
        return client("scheduler")

    def schedule(self, instance_id: str, crossing: Crossing) -> None:
        when = fire_time(crossing.at)
        request = {
            "Name": schedule_name(instance_id, crossing.rule, crossing.step),
            "GroupName": self.group,
            "ScheduleExpression": f"at({when:%Y-%m-%dT%H:%M:%S})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "Description": f"{crossing.rule} level {crossing.level} of {instance_id}",
            "Target": {
                "Arn": self.target_arn,
                "RoleArn": self.role_arn,
                "Input": json.dumps({
                    "instance_id": instance_id,
                    "rule": crossing.rule,
                    "step": crossing.step,
                    "due": when.isoformat(),
                }),
            },
        }
        try:
            self._scheduler.create_schedule(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConflictException":
                raise
            self._scheduler.update_schedule(**request)

    def cancel(self, instance_id: str) -> None:
        """Delete every pending schedule of the instance; one already gone is fine."""
        pages = self._scheduler.get_paginator("list_schedules").paginate(
            GroupName=self.group, NamePrefix=f"{instance_id}-")
        names = [item["Name"] for page in pages for item in page.get("Schedules", [])]
        for name in names:
            try:
                self._scheduler.delete_schedule(Name=name, GroupName=self.group)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
