"""AUDIT items: every terminate decision the workflow made, who asked, and what happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

# Outcomes, in the order an allowed termination goes through them.
TERMINATING: Final = "terminating"
TERMINATED: Final = "terminated"
BLOCKED: Final = "blocked"
FAILED: Final = "failed"
# The workflow itself took the instance down (or was about to): not a bypass.
BY_WORKFLOW: Final = frozenset({TERMINATING, TERMINATED})


@dataclass(frozen=True)
class Audit:
    instance_id: str
    at: datetime
    execution: str
    caller: str
    force: bool
    reason: str | None
    decision: str
    outcome: str
    reasons: tuple[str, ...] = ()
    overridden: tuple[str, ...] = ()
    detail: str = ""

    @property
    def audit_id(self) -> str:
        return f"{self.at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{self.execution}"
