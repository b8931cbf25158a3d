"""The guardrails REST API, called with SigV4 (botocore's SigV4Auth, standard credentials)."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

ENV_API = "GUARDRAILS_API"
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


# API Gateway ends a request at 29 s; the terminate route answers 202 before that.
TERMINATE_TIMEOUT_SECONDS = 35.0


class ApiError(Exception):
    """The API answered with an error; `body` holds its {"error", "message", "hint"}."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        self.message = str(body.get("message") or f"HTTP {status}")
        self.hint = str(body.get("hint") or "")
        super().__init__(f"{self.message} ({self.hint})" if self.hint else self.message)


class ApiUnreachable(Exception):
    """No answer from the API at all (network, DNS, server down)."""


def endpoint_from(argument: str | None) -> str | None:
    """--endpoint wins, then GUARDRAILS_API; None means guardrails are not configured."""
    value = argument or os.environ.get(ENV_API)
    return value.rstrip("/") if value else None


class GuardrailsClient:
    def __init__(self, endpoint: str, *, region: str | None = None, timeout: float = 10.0,
                 session: botocore.session.Session | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.session = session or botocore.session.get_session()
        match = _REGION_IN_HOST.search(self.endpoint)
        self.region = (region or (match.group(1) if match else None)
                       or self.session.get_config_variable("region") or "us-east-1")
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             timeout: float | None = None) -> Any:
        credentials = self.session.get_credentials()
        if credentials is None:
            raise ApiUnreachable("no AWS credentials found: the API needs SigV4-signed calls "
                                 "(instance role, AWS_PROFILE, or AWS_ACCESS_KEY_ID)")
        data = None if body is None else json.dumps(body).encode()
        request = AWSRequest(method=method, url=f"{self.endpoint}{path}", data=data,
                             headers={"Content-Type": "application/json"})
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api",
                  self.region).add_auth(request)
        prepared = request.prepare()
        http = urllib.request.Request(prepared.url, data=data, method=method,
                                      headers=dict(prepared.headers.items()))
        try:
            with urllib.request.urlopen(http, timeout=timeout or self.timeout) as answer:
                text = answer.read().decode()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = {"message": text or error.reason}
            raise ApiError(error.code, parsed if isinstance(parsed, dict)
                           else {"message": str(parsed)}) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise ApiUnreachable(f"{self.endpoint} did not answer: {error}") from None

    # ---- the routes -------------------------------------------------------------------
    def instances(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/instances")
        return result

    def instance(self, instance_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/instances/{instance_id}")
        return result

    def start_run(self, instance_id: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", f"/instances/{instance_id}/runs", body)
        return result

    def heartbeat(self, instance_id: str, run_id: str, **body: Any) -> None:
        self.call("POST", f"/instances/{instance_id}/runs/{run_id}/heartbeat", body)

    def checkpoint(self, instance_id: str, run_id: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "POST", f"/instances/{instance_id}/runs/{run_id}/checkpoints", body)
        return result

    def finish(self, instance_id: str, run_id: str, status: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "POST", f"/instances/{instance_id}/runs/{run_id}/finish", {"status": status})
        return result

    def terminate(self, instance_id: str, **body: Any) -> dict[str, Any]:
        """200 terminated or 202 still uploading (the answer says which); ApiError on 409
        blocked, 422 invalid, 502 failed. The API answers within about 20 s."""
        result: dict[str, Any] = self.call("POST", f"/instances/{instance_id}/terminate", body,
                                           timeout=TERMINATE_TIMEOUT_SECONDS)
        return result

    def termination(self, instance_id: str, execution: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "GET", f"/instances/{instance_id}/terminations/{execution}")
        return result

    def snooze(self, instance_id: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", f"/instances/{instance_id}/snooze", body)
        return result
