"""EC2 state changes -> on_state_change, which keeps the running intervals."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from guardrails import constants as c
from guardrails.routing import ON_STATE_CHANGE_HANDLER, STATE_CHANGE_PATTERN
from infra.function import FunctionOptions, GuardedFunction


class StateChanges(Construct):
    def __init__(self, scope: Construct, construct_id: str, *,
                 options: FunctionOptions, sweep_arn: str) -> None:
        super().__init__(scope, construct_id)
        self.guarded = GuardedFunction(
            self, "OnStateChange", handler=ON_STATE_CHANGE_HANDLER, options=options,
            description="Opens and closes running intervals; alerts and schedules crossings",
            # One-time crossing schedules invoke the sweep for this instance.
            environment={c.ENV_SWEEP_FUNCTION_ARN: sweep_arn},
        )
        self.rule = events.Rule(
            self, "Rule", description="Every EC2 instance state change",
            event_pattern=events.EventPattern(
                source=STATE_CHANGE_PATTERN["source"],
                detail_type=STATE_CHANGE_PATTERN["detail-type"],
            ),
        )
        self.rule.add_target(targets.LambdaFunction(
            self.guarded.function, dead_letter_queue=self.guarded.dead_letters,
            retry_attempts=2))
