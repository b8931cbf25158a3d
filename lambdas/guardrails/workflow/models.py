"""The workflow's state between tasks, as pydantic models (each task reads and returns these)."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from guardrails.events import INSTANCE_ID_PATTERN

MAX_REASON_CHARS = 500


class TerminateOptions(BaseModel):
    """How to terminate: the body of POST /instances/{id}/terminate."""

    model_config = ConfigDict(extra="forbid")

    force: bool = Field(default=False, description="terminate even if unsafe (audited; "
                                                   "needs a reason)")
    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS,
                               description="why; required with force")
    upload_checkpoints: bool = Field(
        default=False, description="copy checkpoints that are only on the instance to S3 "
                                   "(over SSM), verify them, then terminate")

    @model_validator(mode="after")
    def _force_needs_reason(self) -> TerminateOptions:
        if self.force and not (self.reason and self.reason.strip()):
            raise ValueError("force=true needs a non-empty reason (it is audited)")
        return self


class TerminationRequest(TerminateOptions):
    """The workflow's input: {instance_id, force, reason, upload_checkpoints, caller}."""

    instance_id: str = Field(pattern=INSTANCE_ID_PATTERN)
    caller: str = Field(min_length=1, max_length=2048)


class PendingCheckpoint(BaseModel):
    run_id: str
    epoch: int
    path: str
    size_bytes: int
    sha256: str


class DecisionOut(BaseModel):
    outcome: str  # safe, blocked or unknown (domain/termination.py)
    reasons: list[str]
    hints: list[str]
    not_in_s3: list[PendingCheckpoint] = Field(default_factory=list)
    spot: bool = False
    # Terminate now: safe, or forced with a reason.
    proceed: bool
    # Blocked only by checkpoints that an upload would fix.
    uploadable: bool


class UploadOut(BaseModel):
    state: str  # running, succeeded or failed (adapters/ssm.py)
    command_id: str | None = None
    sent_at: str
    poll_seconds: int = Field(ge=0)
    # Where each checkpoint (by path) is being copied.
    targets: dict[str, str] = Field(default_factory=dict)
    problem: str | None = None


class VerifiedOut(BaseModel):
    recorded: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


class TaskError(BaseModel):
    Error: str = "Unknown"
    Cause: str = ""


class OutcomeOut(BaseModel):
    status: Literal["terminated", "blocked", "failed"]
    audit_id: str | None = None
    message: str
    reasons: list[str] = Field(default_factory=list)
    hints: list[str] = Field(default_factory=list)
    forced: bool = False


class WorkflowState(BaseModel):
    """Everything the tasks have added so far; unknown keys are kept out of the models."""

    model_config = ConfigDict(extra="ignore")

    request: TerminationRequest
    execution: str = Field(min_length=1, max_length=80)
    decision: DecisionOut | None = None
    upload: UploadOut | None = None
    verified: VerifiedOut | None = None
    error: TaskError | None = None


def failure_text(error: str, cause: str) -> str:
    """A Lambda error's cause is JSON ({errorType, errorMessage}); say it in one line."""
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            return f"{parsed.get('errorType', error)}: {parsed['errorMessage']}"
    except ValueError:
        pass
    return f"{error}: {cause}" if cause else error
