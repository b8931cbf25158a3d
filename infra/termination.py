"""The pre-termination workflow: a Standard state machine over one function per task, each
with only the permissions its step needs. The definition is guardrails.workflow.definition,
the same document local mode runs."""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from guardrails import constants as c
from guardrails.workflow.definition import TASK_HANDLERS, definition, placeholder
from infra.alerts import AlertsTopic
from infra.function import FunctionOptions, GuardedFunction
from infra.grants import grant_instance_changes, grant_ssm_commands
from infra.nag import acknowledge_wildcard_resource

DESCRIPTIONS = {
    "check": "Termination check: live runs, checkpoints not in S3, the run's process (SSM)",
    "upload": "Termination: uploads local checkpoints over SSM and reports progress",
    "verify": "Termination: verifies uploaded checkpoints in S3 (size, sha256) and records them",
    "terminate": "Termination: audits, lifts protection, terminates, notifies",
    "record_blocked": "Termination: audits a blocked request",
    "record_failure": "Termination: audits a failed request",
}
TIMEOUTS = {"check": 60, "upload": 30, "verify": 120, "terminate": 90,
            "record_blocked": 15, "record_failure": 15}


def _construct_id(task: str) -> str:
    return "".join(part.capitalize() for part in task.split("_"))


class TerminationWorkflow(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, options: FunctionOptions,
                 table: dynamodb.ITableV2, alerts: AlertsTopic, bucket: s3.IBucket,
                 upload_timeout_seconds: int) -> None:
        super().__init__(scope, construct_id)
        environment = {c.ENV_CHECKPOINT_BUCKET: bucket.bucket_name,
                       c.ENV_UPLOAD_TIMEOUT_SECONDS: str(upload_timeout_seconds)}
        self.tasks = {task: GuardedFunction(
            self, _construct_id(task), handler=handler, options=options, asynchronous=False,
            description=DESCRIPTIONS[task], timeout=Duration.seconds(TIMEOUTS[task]),
            environment=environment) for task, handler in TASK_HANDLERS.items()}
        self._grant(table, alerts, bucket)
        log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR,
                                  removal_policy=RemovalPolicy.RETAIN)
        self.state_machine = sfn.StateMachine(
            self, "StateMachine",
            comment="Pre-termination workflow (guardrails.workflow.definition)",
            # Upload waits are bounded by upload_timeout_seconds; this is the outer bound.
            definition_body=sfn.DefinitionBody.from_string(json.dumps(
                definition(timeout_seconds=upload_timeout_seconds + 900))),
            definition_substitutions={placeholder(task): fn.function.function_arn
                                      for task, fn in self.tasks.items()},
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL,
                                include_execution_data=True),
        )
        for fn in self.tasks.values():
            self.state_machine.role.add_to_principal_policy(
                _invoke_statement(fn.function.function_arn))
        acknowledge_wildcard_resource(
            self.state_machine.role, "*",
            reason="X-Ray tracing (xray:PutTraceSegments, ...) and log delivery "
                   "(logs:CreateLogDelivery, ...) do not support resource-level permissions; "
                   "the role invokes only the workflow's own functions, by ARN.")

    def _grant(self, table: dynamodb.ITableV2, alerts: AlertsTopic, bucket: s3.IBucket) -> None:
        t = self.tasks
        reads = ["dynamodb:Query"]
        for task in ("check", "terminate"):
            t[task].allow(reads, [table.table_arn])
            grant_ssm_commands(t[task])  # the live run's process check
        grant_ssm_commands(t["upload"])
        t["verify"].allow(["dynamodb:UpdateItem"], [table.table_arn])
        t["verify"].allow(["s3:GetObject"], [bucket.arn_for_objects("*")])
        acknowledge_wildcard_resource(
            t["verify"].role, bucket.arn_for_objects("*"),
            reason="Checkpoint keys are <instance>/<run>/<file>, made at runtime; reading "
                   "them back (HeadObject) is limited to the checkpoint bucket.")
        # The audit goes in with a check that no run took the instance since (a transaction).
        t["terminate"].allow(["dynamodb:PutItem", "dynamodb:UpdateItem",
                              "dynamodb:ConditionCheckItem"], [table.table_arn])
        for task in ("terminate", "record_failure"):  # is it gone already? (retries, failures)
            t[task].allow(["ec2:DescribeInstances"], ["*"])
            acknowledge_wildcard_resource(
                t[task].role, "*",
                reason="ec2:DescribeInstances does not support resource-level permissions "
                       "(Service Authorization Reference); it reads.")
        alerts.grant_publish(t["terminate"].role)
        grant_instance_changes(
            t["terminate"], ["ec2:ModifyInstanceAttribute", "ec2:TerminateInstances"],
            reason="Terminate acts on the instance a caller names, after the check; it is "
                   "reached only through this workflow, which the API starts.")
        for task in ("record_blocked", "record_failure"):
            t[task].allow(["dynamodb:PutItem"], [table.table_arn])

    @property
    def executions_arn(self) -> str:
        stack = Stack.of(self)
        return stack.format_arn(service="states", resource="execution",
                                resource_name=f"{self.state_machine.state_machine_name}:*",
                                arn_format=ArnFormat.COLON_RESOURCE_NAME)


def _invoke_statement(function_arn: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function_arn])
