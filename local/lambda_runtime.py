"""Lambda invokes on the emulator, dispatched to the real handlers in this process.

moto's Lambda without Docker runs no code, so a state machine executed by moto would get
canned answers. `LocalLambdas` replaces that backend's invoke: the function's name picks the
handler (from the same tables the CDK stack reads), the handler runs here, and its result or
its exception goes back to Step Functions the way Lambda returns them."""

from __future__ import annotations

import importlib
import io
import json
import traceback
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from moto.awslambda_simple.models import LambdaSimpleBackend

from guardrails.workflow.definition import TASK_HANDLERS, render

# moto: run state machines for real, and keep Lambda (no Docker) for us to dispatch.
EMULATOR_CONFIG: dict[str, Any] = {"lambda": {"use_docker": False},
                                   "stepfunctions": {"execute_state_machine": True}}
FUNCTION_PREFIX = "guardrails-"
STATE_MACHINE_NAME = "guardrails-pre-termination"


@dataclass
class LocalContext:
    """The parts of the Lambda context object that Powertools reads."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = "local"


@contextmanager
def metrics_off() -> Iterator[None]:
    """No metrics at all. POWERTOOLS_METRICS_DISABLED alone is not enough in a long-lived
    process: the values still pile up, and at the 100th Powertools prints them to stdout."""
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    with mock.patch.object(AmazonCloudWatchEMFProvider, "add_metric", _no_metric), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", "No application metrics to publish")
        yield


def _no_metric(*_: Any, **__: Any) -> None:
    return None


def resolve(path: str) -> Callable[[Any, Any], Any]:
    module, _, name = path.rpartition(".")
    handler: Callable[[Any, Any], Any] = getattr(importlib.import_module(module), name)
    return handler


class LocalLambdas:
    def __init__(self, handlers: Mapping[str, str]) -> None:
        """`handlers`: function name -> dotted handler path."""
        self.handlers = dict(handlers)
        self.invocations: list[tuple[str, Any]] = []

    def invoke(self, function: str, payload: Any) -> tuple[bytes, bool]:
        """(response payload, errored) for `function` (a name or an ARN)."""
        name = function.rsplit(":", 1)[-1] if ":function:" in function else function
        name = name.split(":")[0]
        self.invocations.append((name, payload))
        if name not in self.handlers:
            return _error("ResourceNotFoundException", f"no local handler for {name}"), True
        arn = function if function.startswith("arn:") else name
        try:
            result = resolve(self.handlers[name])(payload, LocalContext(name, arn))
        except Exception as error:  # Lambda reports a handler's exception to its caller
            return _error(type(error).__name__, str(error),
                          traceback.format_exception(error)), True
        return json.dumps(result, default=str).encode(), False

    @contextmanager
    def installed(self) -> Iterator[LocalLambdas]:
        """While active, moto's Lambda invokes run the real handlers."""
        runtime = self

        def backend_invoke(backend: Any, function_name: str, qualifier: Any, body: Any,
                           headers: Any, response_headers: dict[str, str]) -> bytes:
            payload = json.loads(body) if body else {}
            answer, errored = runtime.invoke(function_name, payload)
            if errored:
                response_headers["x-amz-function-error"] = "Unhandled"
            return answer

        with mock.patch.object(LambdaSimpleBackend, "invoke", backend_invoke):
            yield self


def _error(kind: str, message: str, trace: list[str] | None = None) -> bytes:
    return json.dumps({"errorType": kind, "errorMessage": message,
                       "stackTrace": trace or []}).encode()


def workflow_handlers(prefix: str = FUNCTION_PREFIX) -> dict[str, str]:
    """Function name -> handler for every task of the pre-termination workflow."""
    return {f"{prefix}{task.replace('_', '-')}": path for task, path in TASK_HANDLERS.items()}


def deploy_workflow(iam: Any, lambda_client: Any, sfn: Any,
                    prefix: str = FUNCTION_PREFIX) -> str:
    """Create the workflow's functions and its state machine on the emulator, from the same
    definition the CDK stack deploys. Returns the state machine ARN."""
    role = iam.create_role(RoleName=f"{prefix}workflow", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "states.amazonaws.com"}}],
    }))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "# the local runtime dispatches to guardrails.handlers\n")
    arns = {}
    for task, path in TASK_HANDLERS.items():
        created = lambda_client.create_function(
            FunctionName=f"{prefix}{task.replace('_', '-')}", Runtime="python3.12", Role=role,
            Handler=path, Code={"ZipFile": code.getvalue()})
        arns[task] = created["FunctionArn"]
    machine = sfn.create_state_machine(name=STATE_MACHINE_NAME, definition=render(arns),
                                       roleArn=role)
    return str(machine["stateMachineArn"])
