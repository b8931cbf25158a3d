"""The sweep: a periodic safety net over every running instance (and one instance on demand)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from guardrails.routing import SWEEP_HANDLER, sweep_rate_expression
from infra.function import FunctionOptions, GuardedFunction


class Sweep(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, rate_minutes: int,
                 options: FunctionOptions) -> None:
        super().__init__(scope, construct_id)
        self.guarded = GuardedFunction(
            self, "Sweep", handler=SWEEP_HANDLER, options=options,
            description="Sweeps running instances: reconciles, alerts what is due, escalates",
            timeout=Duration.minutes(5), memory_size=512,
        )
        self.rule = events.Rule(
            self, "Every", description=f"Safety-net sweep every {rate_minutes} minutes",
            schedule=events.Schedule.expression(sweep_rate_expression(rate_minutes)),
        )
        self.rule.add_target(targets.LambdaFunction(
            self.guarded.function, dead_letter_queue=self.guarded.dead_letters,
            retry_attempts=2))
