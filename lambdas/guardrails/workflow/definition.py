"""The pre-termination workflow in Amazon States Language. The CDK stack deploys this document
and local mode runs the same one on the emulator, so the two cannot drift apart.

State, as it grows: {request, execution, decision, upload, verified, outcome, error}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

# Task -> the handler that runs it (one Lambda function each, so each has its own role).
TASK_HANDLERS: Final[dict[str, str]] = {
    "check": "guardrails.handlers.termination.check",
    "upload": "guardrails.handlers.termination.upload",
    "verify": "guardrails.handlers.termination.verify",
    "terminate": "guardrails.handlers.termination.terminate",
    "record_blocked": "guardrails.handlers.termination.record_blocked",
    "record_failure": "guardrails.handlers.termination.record_failure",
}
FAILED_ERROR: Final = "TerminationFailed"
# Transient Lambda service errors are retried; an error raised by our code is not.
LAMBDA_TRANSIENT: Final = ["Lambda.ServiceException", "Lambda.AWSLambdaException",
                           "Lambda.SdkClientException", "Lambda.TooManyRequestsException"]


def placeholder(task: str) -> str:
    """The substitution key of a task's function ARN: `check` -> `CheckFunctionArn`."""
    return "".join(part.capitalize() for part in task.split("_")) + "FunctionArn"


def _reference(task: str) -> str:
    return "${" + placeholder(task) + "}"


def _task(task: str, result_path: str, next_state: str | None,
          catch: bool = True) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task", "Resource": _reference(task), "ResultPath": result_path,
        "Retry": [{"ErrorEquals": LAMBDA_TRANSIENT, "IntervalSeconds": 2, "MaxAttempts": 3,
                   "BackoffRate": 2.0}],
    }
    if catch:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                           "Next": "RecordFailure"}]
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state


DEFAULT_TIMEOUT_SECONDS: Final = 2700


def definition(timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS) -> dict[str, Any]:
    """`timeout_seconds` bounds a whole execution; the upload wait has its own, shorter one."""
    return {
        "Comment": "Pre-termination workflow: block unsafe terminations, upload checkpoints, "
                   "then terminate, with an audit item for every outcome.",
        "StartAt": "Begin",
        "TimeoutSeconds": timeout_seconds,
        "States": {
            "Begin": {"Type": "Pass", "Next": "Check", "Parameters": {
                "request.$": "$", "execution.$": "$$.Execution.Name"}},
            "Check": _task("check", "$.decision", "Decide"),
            # Upload first when asked, even when forced: the caller wants them kept.
            "Decide": {"Type": "Choice", "Default": "RecordBlocked", "Choices": [
                {"And": [
                    {"Variable": "$.decision.uploadable", "BooleanEquals": True},
                    {"Variable": "$.request.upload_checkpoints", "BooleanEquals": True},
                    {"Variable": "$.verified", "IsPresent": False},
                ], "Next": "UploadCheckpoints"},
                {"Variable": "$.decision.proceed", "BooleanEquals": True, "Next": "Terminate"},
            ]},
            "UploadCheckpoints": _task("upload", "$.upload", "WaitForUpload"),
            "WaitForUpload": {"Type": "Wait", "SecondsPath": "$.upload.poll_seconds",
                              "Next": "UploadStatus"},
            "UploadStatus": _task("upload", "$.upload", "UploadDone"),
            "UploadDone": {"Type": "Choice", "Default": "RecordBlocked", "Choices": [
                {"Variable": "$.upload.state", "StringEquals": "running",
                 "Next": "WaitForUpload"},
                {"Variable": "$.upload.state", "StringEquals": "succeeded", "Next": "Verify"},
            ]},
            "Verify": _task("verify", "$.verified", "Check"),
            "Terminate": _task("terminate", "$.outcome", None),
            "RecordBlocked": _task("record_blocked", "$.outcome", None),
            "RecordFailure": {**_task("record_failure", "$.outcome", "Failed", catch=False),
                              "Catch": [{"ErrorEquals": ["States.ALL"],
                                         "ResultPath": "$.audit_error",
                                         "Next": "FailedUnaudited"}]},
            "Failed": {"Type": "Fail", "Error": FAILED_ERROR, "CausePath": "$.outcome.message"},
            # Even the failure could not be recorded: say what the first error was.
            "FailedUnaudited": {"Type": "Fail", "Error": FAILED_ERROR,
                                "CausePath": "$.error.Cause"},
        },
    }


def render(function_arns: Mapping[str, str]) -> str:
    """The document with each task's function ARN in place (what CloudFormation substitutes
    in the deployed stack)."""
    missing = set(TASK_HANDLERS) - set(function_arns)
    if missing:
        raise ValueError(f"no function ARN for task(s) {sorted(missing)}")
    text = json.dumps(definition())
    for task, arn in function_arns.items():
        text = text.replace(_reference(task), arn)
    return text
