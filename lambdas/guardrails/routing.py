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
