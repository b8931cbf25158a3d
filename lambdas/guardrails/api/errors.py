"""The one place that turns failures into HTTP answers: {"error", "message", "hint"}."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from guardrails.adapters.workflow import RUNNING, SUCCEEDED, Execution
from guardrails.domain.runs import LockHeld, RegistryError, RunNotFound, RunNotLive
from guardrails.workflow.models import failure_text


class ApiRefusal(Exception):
    """A refusal the API states as-is: its status, code, message and hint."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Forbidden(ApiRefusal):
    status = 403
    code = "forbidden"


class NotFound(ApiRefusal):
    status = 404
    code = "not_found"


STATUS_OF: dict[type[Exception], tuple[int, str]] = {
    LockHeld: (409, "run_in_progress"),
    RunNotLive: (409, "run_not_live"),
    RunNotFound: (404, "run_not_found"),
}


def answer(status: int, error: str, message: str, hint: str = "",
           **extra: Any) -> Response[str]:
    body = {"error": error, "message": message, "hint": hint, **extra}
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, default=str))


def registry_answer(error: RegistryError) -> Response[str]:
    status, code = STATUS_OF.get(type(error), (409, "conflict"))
    extra: dict[str, Any] = {}
    if isinstance(error, LockHeld) and error.lock is not None:
        extra["live_run"] = {"run_id": error.lock.run_id, "pid": error.lock.pid}
    return answer(status, code, error.message, error.hint, **extra)


def validation_answer(errors: list[dict[str, Any]]) -> Response[str]:
    """Pydantic's errors in words: which field, and what was wrong with it."""
    problems = []
    for problem in errors:
        loc = [str(p) for p in problem.get("loc", ()) if p not in ("body", 0)]
        where = ".".join(loc) or "body"
        message = str(problem.get("msg", "is invalid"))
        if problem.get("type") == "json_invalid":
            where, message = "body", "is not valid JSON"
        elif problem.get("type") == "extra_forbidden":
            message = "is not a field this route accepts"
        problems.append({"field": where, "problem": message})
    text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return answer(422, "invalid_request", text,
                  "fix the fields named above; the API reference is docs/openapi.json",
                  problems=problems)


class Unavailable(ApiRefusal):
    status = 503
    code = "not_configured"


def execution_answer(instance_id: str, execution: Execution) -> Response[str]:
    """How a terminate workflow execution reads over HTTP: 200 terminated, 409 blocked,
    202 still going, 502 failed (and then nothing was terminated)."""
    poll = f"/instances/{instance_id}/terminations/{execution.name}"
    if execution.status == RUNNING:
        body: dict[str, Any] = {
            "status": "in_progress", "execution": execution.name, "poll": poll,
            "message": "still working (checking, or uploading checkpoints); poll for the "
                       "outcome"}
        return Response(status_code=202, content_type=content_types.APPLICATION_JSON,
                        body=json.dumps(body))
    outcome = (execution.output or {}).get("outcome") or {}
    if execution.status == SUCCEEDED and outcome.get("status") == "terminated":
        body = {"status": "terminated", "instance_id": instance_id,
                "execution": execution.name, **outcome}
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON,
                        body=json.dumps(body))
    if execution.status == SUCCEEDED and outcome.get("status") == "blocked":
        return answer(409, "termination_blocked", str(outcome.get("message")),
                      " ".join(outcome.get("hints") or []), reasons=outcome.get("reasons"),
                      hints=outcome.get("hints"), audit_id=outcome.get("audit_id"),
                      execution=execution.name)
    cause = (failure_text(execution.error or "", execution.cause) if execution.cause
             else f"the workflow ended {execution.status}")
    return answer(502, "termination_failed", cause,
                  "nothing was terminated; retry, and if it keeps failing read the "
                  f"execution history of {execution.name}", execution=execution.name)
