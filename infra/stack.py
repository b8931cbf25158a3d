"""GuardrailsStack: composes one construct per concern and wires their permissions."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from guardrails import constants as c
from infra.alerts import AlertsTopic
from infra.api import RegistryApi
from infra.checkpoints import CheckpointBucket
from infra.config import GuardrailsConfig
from infra.function import (
    ASSET_EXCLUDE,
    ASSET_ROOT,
    FunctionOptions,
    GuardedFunction,
    powertools_layer,
)
from infra.grants import grant_instance_changes, grant_ssm_commands
from infra.guards import Guards
from infra.instance_role import TrainingInstanceRole
from infra.nag import acknowledge_wildcard_resource
from infra.scheduling import LIST_SCHEDULES, CrossingSchedules
from infra.state_changes import StateChanges
from infra.sweep import Sweep
from infra.table import GuardrailsTable
from infra.termination import TerminationWorkflow

REGISTRY_TABLE_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                          "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem",
                          "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem"]
TABLE_ITEM_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                      "dynamodb:DeleteItem"]
# None of these supports resource-level permissions (Service Authorization Reference).
UNSCOPED_ACTIONS = ["ec2:DescribeInstances", "ec2:DescribeSpotPriceHistory",
                    "pricing:GetProducts", LIST_SCHEDULES,
                    # the idle limit reads CPU and GPU utilization
                    "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics"]


class GuardrailsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: GuardrailsConfig,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table = GuardrailsTable(self, "Data").table
        self.alerts = AlertsTopic(self, "Alerts", config)
        self.schedules = CrossingSchedules(self, "CrossingSchedules")
        options = FunctionOptions(
            code=lambda_.Code.from_asset(ASSET_ROOT, exclude=ASSET_EXCLUDE),
            layer=powertools_layer(self, config.powertools_layer_version),
            alarm_topic=self.alerts.topic,
            environment={
                c.ENV_TABLE_NAME: self.table.table_name,
                c.ENV_ALERTS_TOPIC_ARN: self.alerts.topic.topic_arn,
                c.ENV_SCHEDULE_GROUP: self.schedules.group.schedule_group_name,
                c.ENV_SCHEDULER_ROLE_ARN: self.schedules.role.role_arn,
                **config.function_environment(),
            },
        )
        self.sweep = Sweep(self, "Sweep", rate_minutes=config.sweep_rate_minutes,
                           options=options)
        self.state_changes = StateChanges(self, "StateChanges", options=options,
                                          sweep_arn=self.sweep.guarded.function.function_arn)
        self.schedules.allow_invoke(self.sweep.guarded.function)
        self._grant_cost_guardrails(self.sweep.guarded, batch_reads=True)
        self._grant_cost_guardrails(self.state_changes.guarded, batch_reads=False)
        # ...and writes the post-mortem of a termination that went around the workflow.
        self.state_changes.guarded.allow(["dynamodb:Query"], [self.table.table_arn])
        self.checkpoints = CheckpointBucket(self, "Checkpoints")
        self.termination = TerminationWorkflow(
            self, "Termination", options=options, table=self.table, alerts=self.alerts,
            bucket=self.checkpoints.bucket, upload_timeout_seconds=config.upload_timeout_seconds)
        self.instance_role = TrainingInstanceRole(self, "TrainingInstance")
        self.registry = RegistryApi(self, "Registry", options=options,
                                    instance_role_name=self.instance_role.role.role_name,
                                    state_machine=self.termination)
        self._grant_registry(self.registry.guarded)
        self.alerts.grant_publish(self.registry.guarded.role)  # run-budget alerts
        # The sweep also releases stale runs: the registry's writes, plus the SSM live check.
        self._grant_registry(self.sweep.guarded)
        grant_ssm_commands(self.sweep.guarded)
        # ...and carries out the hard limits: stop, after a checkpoint asked for over SSM.
        for fn in (self.sweep.guarded, self.state_changes.guarded):
            grant_instance_changes(
                fn, ["ec2:StopInstances"],
                reason="A hard limit (opt-in) stops the instance that crossed it; instance "
                       "ids are only known at run time. Neither function terminates.")
        grant_ssm_commands(self.state_changes.guarded)
        # These roles lift protection as designed; the guard alerts on anyone else.
        self.guards = Guards(
            self, "Guards", options=options, table=self.table, alerts=self.alerts,
            bucket=self.checkpoints.bucket, trusted_role_arns=[
                self.termination.tasks["terminate"].role.role_arn,
                self.registry.guarded.role.role_arn, self.sweep.guarded.role.role_arn])
        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "AlertsTopicArn", value=self.alerts.topic.topic_arn)
        CfnOutput(self, "ApiUrl", value=self.registry.api.url,
                  description="GUARDRAILS_API for guardctl and the training agent")
        CfnOutput(self, "TerminationStateMachine",
                  value=self.termination.state_machine.state_machine_arn)
        self.instance_role.grant(self.registry.api, self.checkpoints.bucket)
        CfnOutput(self, "CheckpointBucket", value=self.checkpoints.bucket.bucket_name,
                  description="GUARDRAILS_BUCKET for the training agent")
        CfnOutput(self, "InstanceProfile",
                  value=self.instance_role.profile.instance_profile_name,
                  export_name=f"{construct_id}-TrainingInstanceProfile",
                  description="launch training instances with this instance profile")

    def _grant_registry(self, fn: GuardedFunction) -> None:
        fn.allow(REGISTRY_TABLE_ACTIONS, [self.table.table_arn])
        fn.allow(["dynamodb:Query"], [f"{self.table.table_arn}/index/{c.LIVE_INDEX}"])
        grant_instance_changes(
            fn, ["ec2:ModifyInstanceAttribute"],
            reason="Any instance of the account may run training; the API only lets an "
                   "instance change its own protection (its role session must be its id).")

    def _grant_cost_guardrails(self, fn: GuardedFunction, *, batch_reads: bool) -> None:
        actions = TABLE_ITEM_ACTIONS + (["dynamodb:BatchGetItem"] if batch_reads else [])
        fn.allow(actions, [self.table.table_arn])
        fn.allow(UNSCOPED_ACTIONS, ["*"])
        self.alerts.grant_publish(fn.role)
        self.schedules.grant_manage(fn.role)
        acknowledge_wildcard_resource(
            fn.role, "*",
            reason=f"{', '.join(UNSCOPED_ACTIONS)} do not support "
                   "resource-level permissions (Service Authorization Reference); they read.")
