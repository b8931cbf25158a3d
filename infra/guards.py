"""The reactive guards: spot interruption warnings and CloudTrail ModifyInstanceAttribute
calls -> the guard function. (Terminations that went around the workflow arrive as state
changes, so on_state_change writes their post-mortem.)"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from guardrails import constants as c
from guardrails.routing import GUARD_HANDLER, PROTECTION_CHANGE_PATTERN, SPOT_WARNING_PATTERN
from infra.alerts import AlertsTopic
from infra.function import FunctionOptions, GuardedFunction
from infra.grants import grant_ssm_commands


def event_pattern(pattern: dict[str, Any]) -> events.EventPattern:
    return events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"],
                               detail=pattern.get("detail"))


class Guards(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, options: FunctionOptions,
                 table: dynamodb.ITableV2, alerts: AlertsTopic, bucket: s3.IBucket,
                 trusted_role_arns: list[str]) -> None:
        super().__init__(scope, construct_id)
        self.guarded = GuardedFunction(
            self, "OnGuardEvent", handler=GUARD_HANDLER, options=options,
            description="Spot interruption: checkpoint now; protection lifted by hand: alert",
            environment={c.ENV_CHECKPOINT_BUCKET: bucket.bucket_name,
                         c.ENV_TRUSTED_ROLE_ARNS: ",".join(trusted_role_arns)},
        )
        fn = self.guarded
        fn.allow(["dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem",
                  "dynamodb:UpdateItem"], [table.table_arn])
        alerts.grant_publish(fn.role)
        grant_ssm_commands(fn)
        self.rules = []
        for name, pattern, description in (
            ("SpotWarning", SPOT_WARNING_PATTERN, "Spot interruption warnings"),
            ("ProtectionChange", PROTECTION_CHANGE_PATTERN,
             "ModifyInstanceAttribute calls (needs a CloudTrail trail)"),
        ):
            rule = events.Rule(self, name, description=description,
                               event_pattern=event_pattern(pattern))
            rule.add_target(targets.LambdaFunction(
                fn.function, dead_letter_queue=fn.dead_letters, retry_attempts=2))
            self.rules.append(rule)
