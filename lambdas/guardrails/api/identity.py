"""Who is calling: an instance writes only its own records."""

from __future__ import annotations

import re
from typing import Any

from guardrails.api.errors import Forbidden

# arn:aws:sts::123456789012:assumed-role/<role name>/<session name>
_ASSUMED_ROLE = re.compile(
    r"^arn:aws[a-z-]*:sts::\d{12}:assumed-role/(?P<role>[^/]+)/(?P<session>[^/]+)$")


def caller(request_context: dict[str, Any]) -> tuple[str, str] | None:
    """(role name, session name) of an assumed-role caller; None for anyone else."""
    user_arn = (request_context.get("identity") or {}).get("userArn") or ""
    match = _ASSUMED_ROLE.match(user_arn)
    return (match.group("role"), match.group("session")) if match else None


def require_instance(request_context: dict[str, Any], instance_id: str,
                     instance_role: str | None) -> None:
    """The caller must be the instance: a session of the training instance role whose name
    is the instance id (EC2 names instance-profile sessions so). Any other role could choose
    that session name, so the role is checked too."""
    who = caller(request_context)
    if instance_role is None:
        raise Forbidden("writes are disabled: the API does not know the training instance "
                        "role", "set INSTANCE_ROLE_NAME on the API function (the stack does)")
    if who != (instance_role, instance_id):
        shown = (f"{who[0]}/{who[1]}" if who
                 else (request_context.get("identity") or {}).get("userArn") or "unknown")
        raise Forbidden(
            f"only {instance_id} itself may write its runs and checkpoints; the caller is "
            f"{shown}",
            f"call from the instance with its instance profile (role {instance_role}); "
            "the agent does this")
