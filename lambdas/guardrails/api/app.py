"""The REST API resolver: routes, validation, and the one error mapping."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from guardrails.api import routes_instances, routes_runs
from guardrails.api.errors import ApiRefusal, answer, registry_answer, validation_answer
from guardrails.constants import SERVICE_NAME
from guardrails.domain.runs import RegistryError

logger = Logger(service=SERVICE_NAME, child=True)
API_TITLE = "Training-run guardrails API"
API_VERSION = "1.0.0"

app = APIGatewayRestResolver(enable_validation=True)
app.include_router(routes_instances.router)
app.include_router(routes_runs.router)


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
