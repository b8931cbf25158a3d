"""Who is calling: an instance writes only its own records."""

from __future__ import annotations

import re
from typing import Any

from guardrails.api.errors import Forbidden

# arn:aws:sts::123456789012:assumed-role/<role name>/<session name>
_ASSUMED_ROLE = re.compile(r"^arn:aws[a-z-]*:sts::\d{12}:assumed-role/[^/]+/(?P<session>[^/]+)$")


def session_name(request_context: dict[str, Any]) -> str | None:
    user_arn = (request_context.get("identity") or {}).get("userArn") or ""
    match = _ASSUMED_ROLE.match(user_arn)
    return match.group("session") if match else None


def require_instance(request_context: dict[str, Any], instance_id: str) -> None:
    """The caller must be the instance: its role session name is its instance id."""
    session = session_name(request_context)
    if session != instance_id:
        who = session or (request_context.get("identity") or {}).get("userArn") or "unknown"
        raise Forbidden(
            f"only {instance_id} itself may write its runs and checkpoints; the caller is {who}",
            "call from the instance with its instance-profile role (the agent does this)")
