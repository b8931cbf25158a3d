"""The REST API resolver: routes, validation, and the one error mapping."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from guardrails.api import routes_instances, routes_runs, routes_snooze, routes_terminate
from guardrails.api.errors import ApiRefusal, answer, registry_answer, validation_answer
from guardrails.constants import SERVICE_NAME
from guardrails.domain.runs import RegistryError

logger = Logger(service=SERVICE_NAME, child=True)
API_TITLE = "Training-run guardrails API"
API_VERSION = "1.0.0"

app = APIGatewayRestResolver(enable_validation=True)
app.include_router(routes_instances.router)
app.include_router(routes_runs.router)
app.include_router(routes_terminate.router)
app.include_router(routes_snooze.router)


@app.exception_handler(RequestValidationError)
def _invalid(error: RequestValidationError) -> Response[str]:
    return validation_answer(list(error.errors()))


@app.exception_handler(RegistryError)
def _refused(error: RegistryError) -> Response[str]:
    return registry_answer(error)


@app.exception_handler(ApiRefusal)
def _api_refusal(error: ApiRefusal) -> Response[str]:
    return answer(error.status, error.code, error.message, error.hint)


def openapi_json() -> str:
    text: Any = app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION,
                                            description="IAM-authorized (SigV4)")
    return str(text)


MAX_BODY_BYTES = 64 * 1024


def unreadable_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """Bodies the JSON validation itself would crash on (a 5000-digit number, nesting deep
    enough to exhaust the stack) or that are far too large: a 4xx before any route runs."""
    body = event.get("body")
    if not body or not isinstance(body, str):
        return None
    if len(body.encode()) > MAX_BODY_BYTES:
        response = answer(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes",
                          "send the fields the route documents, nothing more")
    else:
        try:
            json.loads(body)
            return None
        except json.JSONDecodeError:
            return None  # the route's validation answers this one, naming the problem
        except (ValueError, RecursionError):
            response = answer(422, "invalid_request", "body: is not JSON this API can read",
                              "numbers must be under 4300 digits and nesting shallow")
    return {"statusCode": response.status_code, "body": response.body,
            "headers": {"Content-Type": "application/json"}, "isBase64Encoded": False}
