"""Start the pre-termination workflow and read how an execution ended."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from guardrails.adapters.clients import client

RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Execution:
    name: str
    status: str  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    output: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None


def execution_name(instance_id: str, now: datetime) -> str:
    """Unique, at most 80 characters, and it says which instance it is for."""
    return f"{instance_id}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    # arn:aws:states:<region>:<account>:stateMachine:<machine> -> ...:execution:<machine>:<name>
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


class TerminationWorkflow:
    def __init__(self, state_machine_arn: str) -> None:
        self.arn = state_machine_arn

    def start(self, name: str, request: dict[str, Any]) -> None:
        client("stepfunctions").start_execution(stateMachineArn=self.arn, name=name,
                                                input=json.dumps(request))

    def describe(self, name: str) -> Execution | None:
        sfn = client("stepfunctions")
        try:
            answer = sfn.describe_execution(executionArn=execution_arn(self.arn, name))
        except sfn.exceptions.ExecutionDoesNotExist:
            return None
        output = answer.get("output")
        return Execution(name=name, status=str(answer["status"]),
                         output=json.loads(output) if output else None,
                         error=answer.get("error"), cause=answer.get("cause"))

    def wait(self, name: str, seconds: float) -> Execution | None:
        """The execution once it ends, or as it is when `seconds` have passed."""
        deadline = time.monotonic() + seconds
        while True:
            found = self.describe(name)
            if found is None or found.status != RUNNING or time.monotonic() >= deadline:
                return found
            time.sleep(POLL_SECONDS)
