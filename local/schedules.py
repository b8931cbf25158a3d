"""EventBridge Scheduler and the periodic sweep, on the local clock (moto stores one-time
schedules but never fires them)."""

from __future__ import annotations

import json
from collections.abc import Callable
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


def fire_due(scheduler: Any, group: str, now: datetime,
             invoke: Callable[[dict[str, Any]], None]) -> int:
    """Invoke each due schedule's target with its input, then delete it (as
    ActionAfterCompletion=DELETE does)."""
    fired = 0
    for _, name in due_schedules(scheduler, group, now):
        detail = scheduler.get_schedule(Name=name, GroupName=group)
        scheduler.delete_schedule(Name=name, GroupName=group)
        invoke(json.loads(detail["Target"]["Input"]))
        fired += 1
    return fired


class PeriodicSweep:
    def __init__(self, every: timedelta, start: datetime) -> None:
        self.every, self.next = every, start + every

    def due(self, now: datetime) -> bool:
        if now < self.next:
            return False
        while self.next <= now:
            self.next += self.every
        return True
