"""One guarded Lambda function: its own role, log group, DLQ and error alarm."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment as Ack
from aws_cdk import Duration, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from guardrails import constants as c

ASSET_ROOT = "lambdas"
ASSET_EXCLUDE = ["**/__pycache__", "**/*.pyc", "**/.mypy_cache", "*.egg-info"]
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64


def powertools_layer(scope: Construct, version: int) -> lambda_.ILayerVersion:
    """The public Powertools layer (it brings aws-lambda-powertools and pydantic)."""
    stack = Stack.of(scope)
    arn = (f"arn:{stack.partition}:lambda:{stack.region}:017000801446:layer:"
           f"AWSLambdaPowertoolsPythonV3-python314-arm64:{version}")
    return lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", arn)


@dataclass(frozen=True)
class FunctionOptions:
    """What every function of the stack shares."""

    code: lambda_.Code
    layer: lambda_.ILayerVersion
    environment: dict[str, str]
    alarm_topic: sns.ITopic


class GuardedFunction(Construct):
    """A function that never fails silently: its own role and log group, an error alarm to
    the alerts topic, and for asynchronous invokes a dead-letter queue."""

    def __init__(self, scope: Construct, construct_id: str, *, handler: str,
                 description: str, options: FunctionOptions,
                 timeout: Duration | None = None, memory_size: int = 256,
                 environment: dict[str, str] | None = None,
                 asynchronous: bool = True) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_MONTH)
        # No managed policy: the role gets exactly what the owner grants, plus its log group.
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{construct_id}: least privilege for {handler}",
        )
        self.log_group.grant_write(self.role)
        self.dead_letters: sqs.Queue | None = None
        if asynchronous:
            self.dead_letters = sqs.Queue(
                self, "DeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True, retention_period=Duration.days(14),
            )
            Validations.of(self.dead_letters).acknowledge(Ack(
                id="AwsSolutions-SQS3",
                reason="This queue is itself the dead-letter queue of the function's async "
                       "invokes.",
            ))
        self.function = lambda_.Function(
            self, "Function",
            runtime=RUNTIME, architecture=ARCHITECTURE, handler=handler, code=options.code,
            description=description, role=self.role, log_group=self.log_group,
            layers=[options.layer], timeout=timeout or Duration.seconds(60),
            memory_size=memory_size,
            environment={
                "POWERTOOLS_SERVICE_NAME": c.SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
                **options.environment,
                **(environment or {}),
            },
            dead_letter_queue=self.dead_letters,
            retry_attempts=2 if asynchronous else None,
            max_event_age=Duration.hours(6) if asynchronous else None,
        )
        self.errors = cloudwatch.Alarm(
            self, "Errors",
            alarm_description=f"{construct_id} failed: see its log group"
                              + ("; failed events wait in its dead-letter queue"
                                 if asynchronous else ""),
            metric=self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.errors.add_alarm_action(cw_actions.SnsAction(options.alarm_topic))

    def allow(self, actions: list[str], resources: list[str]) -> None:
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=actions,
                                                              resources=resources))
