"""EventBridge Scheduler and the periodic sweep, on the local clock (moto stores one-time
schedules but never fires them)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any


def due_schedules(scheduler: Any, group: str, now: datetime) -> list[tuple[datetime, str]]:
    due = []
    pages = scheduler.get_paginator("list_schedules").paginate(GroupName=group)
    for page in pages:
        for item in page.get("Schedules", []):
            detail = scheduler.get_schedule(Name=item["Name"], GroupName=group)
            expression = str(detail["ScheduleExpression"])  # at(2026-11-02T09:27:00)
            when = datetime.fromisoformat(expression[3:-1] + "+00:00")
            if when <= now:
                due.append((when, item["Name"]))
    return sorted(due)


def take(scheduler: Any, group: str, name: str) -> dict[str, Any]:
    """A schedule's target input, deleting it (as ActionAfterCompletion=DELETE does)."""
    detail = scheduler.get_schedule(Name=name, GroupName=group)
    scheduler.delete_schedule(Name=name, GroupName=group)
    payload: dict[str, Any] = json.loads(detail["Target"]["Input"])
    return payload


class PeriodicSweep:
    def __init__(self, every: timedelta, start: datetime) -> None:
        self.every, self.next = every, start + every

    def came_due(self, now: datetime) -> bool:
        """Whether a sweep time has come since the last call (one sweep covers them all)."""
        due = self.next <= now
        while self.next <= now:
            self.next += self.every
        return due
