"""Boto3 clients, created on first use with botocore's standard retry mode.

Nothing is created at import time, so tests and local mode can point clients anywhere
(AWS_ENDPOINT_URL) or replace one with `override`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
# The Pricing API answers only in a few regions; us-east-1 serves every region's prices.
PRICING_REGION = "us-east-1"

_overrides: dict[str, Any] = {}


def client(service: str, region: str | None = None) -> Any:
    """A shared client for `service`; a test or local mode may have put its own in place."""
    if service in _overrides:
        return _overrides[service]
    return _create(service, region)


@cache
def _create(service: str, region: str | None) -> Any:
    session: Any = boto3.session.Session()  # typed per service by boto3-stubs; one factory here
    return session.client(service, region_name=region, config=RETRY_CONFIG)


def override(service: str, replacement: Any) -> None:
    _overrides[service] = replacement


def reset() -> None:
    """Forget every client and override (tests call this between cases)."""
    _overrides.clear()
    _create.cache_clear()
