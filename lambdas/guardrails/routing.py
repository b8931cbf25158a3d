"""Event wiring that the CDK stack and local mode both read, so they cannot drift apart."""

from typing import Any, Final

ON_STATE_CHANGE_HANDLER: Final = "guardrails.handlers.on_state_change.handler"
SWEEP_HANDLER: Final = "guardrails.handlers.sweep.handler"

EC2_STATE_CHANGE_DETAIL_TYPE: Final = "EC2 Instance State-change Notification"

# EventBridge rule -> on_state_change. Every state, so intervals open and close.
STATE_CHANGE_PATTERN: Final[dict[str, Any]] = {
    "source": ["aws.ec2"],
    "detail-type": [EC2_STATE_CHANGE_DETAIL_TYPE],
}

DEFAULT_SWEEP_RATE_MINUTES: Final = 15


def sweep_rate_expression(minutes: int) -> str:
    """The EventBridge schedule expression of the periodic safety-net sweep."""
    unit = "minute" if minutes == 1 else "minutes"
    return f"rate({minutes} {unit})"

API_HANDLER: Final = "guardrails.handlers.api.handler"

# REST API routes as API Gateway writes them. The Powertools routes are declared from these
# (see `resolver_path`), and the CDK stack builds its resources and methods from the same list.
API_ROUTES: Final[dict[str, tuple[str, str]]] = {
    "list_instances": ("GET", "/instances"),
    "get_instance": ("GET", "/instances/{instance_id}"),
    "start_run": ("POST", "/instances/{instance_id}/runs"),
    "heartbeat": ("POST", "/instances/{instance_id}/runs/{run_id}/heartbeat"),
    "record_checkpoint": ("POST", "/instances/{instance_id}/runs/{run_id}/checkpoints"),
    "finish_run": ("POST", "/instances/{instance_id}/runs/{run_id}/finish"),
    "terminate_instance": ("POST", "/instances/{instance_id}/terminate"),
    "get_termination": ("GET", "/instances/{instance_id}/terminations/{execution}"),
    "snooze_instance": ("POST", "/instances/{instance_id}/snooze"),
}
# Routes only the instance itself may call (its role session name is its instance id).
INSTANCE_ONLY_ROUTES: Final = frozenset(
    {"start_run", "heartbeat", "record_checkpoint", "finish_run"})


def resolver_path(route: str) -> str:
    """`/instances/{instance_id}` as Powertools writes it: `/instances/<instance_id>`."""
    return API_ROUTES[route][1].replace("{", "<").replace("}", ">")


# Reactive guards (issue 4): EventBridge rules -> the guard function.
GUARD_HANDLER: Final = "guardrails.handlers.on_guard_event.handler"
SPOT_WARNING_DETAIL_TYPE: Final = "EC2 Spot Instance Interruption Warning"
CLOUDTRAIL_DETAIL_TYPE: Final = "AWS API Call via CloudTrail"
SPOT_WARNING_PATTERN: Final[dict[str, Any]] = {
    "source": ["aws.ec2"],
    "detail-type": [SPOT_WARNING_DETAIL_TYPE],
}
# Needs a CloudTrail trail (management events) in the account, as every CloudTrail rule does.
PROTECTION_CHANGE_PATTERN: Final[dict[str, Any]] = {
    "source": ["aws.ec2"],
    "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
    "detail": {"eventSource": ["ec2.amazonaws.com"], "eventName": ["ModifyInstanceAttribute"]},
}
