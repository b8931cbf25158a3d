"""The local gateway checks SigV4 as IAM authorization does: key, signature, body, time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.gateway import Unauthorized, verify

URL = "http://127.0.0.1:8787/instances/i-0123456789abcdef0/runs"
ARN = "arn:aws:sts::123456789012:assumed-role/guardrails-instance/i-0123456789abcdef0"
KNOWN = {"AKIDINSTANCE": ("secret", None, ARN)}


def signed(body: bytes = b'{"pid": 1}', service: str = "execute-api",
           headers: dict[str, str] | None = None) -> dict[str, str]:
    request = AWSRequest(method="POST", url=URL, data=body,
                         headers={"Content-Type": "application/json", **(headers or {})})
    SigV4Auth(Credentials("AKIDINSTANCE", "secret"), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    return {k.lower(): v for k, v in prepared.headers.items()} | {"host": "127.0.0.1:8787"}


def test_a_properly_signed_request_is_its_caller() -> None:
    assert verify("POST", URL, signed(), b'{"pid": 1}', KNOWN.get) == ARN


def test_a_swapped_body_is_refused() -> None:
    with pytest.raises(Unauthorized, match="signature"):
        verify("POST", URL, signed(), b'{"pid": 666}', KNOWN.get)


def test_an_unsigned_payload_claim_cannot_carry_another_body() -> None:
    headers = signed(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(Unauthorized, match="body"):
        verify("POST", URL, headers, b'{"pid": 666}', KNOWN.get)


def test_an_old_signature_is_refused() -> None:
    with pytest.raises(Unauthorized, match="too old"):
        verify("POST", URL, signed(), b'{"pid": 1}', KNOWN.get,
               now=datetime.now(UTC) + timedelta(minutes=6))


def test_another_service_or_an_unknown_key_is_refused() -> None:
    with pytest.raises(Unauthorized, match="not execute-api"):
        verify("POST", URL, signed(service="s3"), b'{"pid": 1}', KNOWN.get)
    with pytest.raises(Unauthorized, match="unknown access key"):
        verify("POST", URL, signed(), b'{"pid": 1}', {}.get)
    with pytest.raises(Unauthorized, match="Authorization"):
        verify("POST", URL, {"host": "127.0.0.1:8787"}, b"", KNOWN.get)
