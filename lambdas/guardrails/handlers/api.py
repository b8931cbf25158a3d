"""REST API -> the training registry and the status views."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from guardrails.api.app import app, unreadable_body
from guardrails.constants import SERVICE_NAME

logger = Logger(service=SERVICE_NAME)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refused = unreadable_body(event)
    if refused is not None:
        return refused
    return app.resolve(event, context)
