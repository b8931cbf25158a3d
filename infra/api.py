"""The REST API: IAM-authorized, access-logged, validated and throttled, in front of the
registry function. Its resources come from guardrails.routing.API_ROUTES."""

from __future__ import annotations

from aws_cdk import Acknowledgment as Ack
from aws_cdk import Duration, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from constructs import Construct

from guardrails import constants as c
from guardrails.routing import API_HANDLER, API_ROUTES
from infra.function import FunctionOptions, GuardedFunction
from infra.nag import acknowledge_wildcard_resource
from infra.termination import TerminationWorkflow

STAGE = "v1"


class RegistryApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, options: FunctionOptions,
                 instance_role_name: str, state_machine: TerminationWorkflow,
                 rate_limit: int = 50,
                 burst_limit: int = 100) -> None:
        super().__init__(scope, construct_id)
        self.guarded = GuardedFunction(
            self, "Api", handler=API_HANDLER, options=options, asynchronous=False,
            timeout=Duration.seconds(29),
            # Only sessions of this role may write runs (see guardrails/api/identity.py).
            environment={c.ENV_INSTANCE_ROLE_NAME: instance_role_name,
                         c.ENV_STATE_MACHINE_ARN: state_machine.state_machine.state_machine_arn},
            description="REST API: training runs, checkpoints, instance status",
        )
        state_machine.state_machine.grant_start_execution(self.guarded.role)
        self.guarded.allow(["states:DescribeExecution"], [state_machine.executions_arn])
        acknowledge_wildcard_resource(
            self.guarded.role, state_machine.executions_arn,
            reason="Executions are named per terminate request at runtime; reading them is "
                   "limited to this stack's termination state machine.")
        access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.ONE_YEAR)
        self.api = apigw.RestApi(
            self, "RestApi",
            description="Training-run guardrails (SigV4 / IAM only)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM),
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                throttling_rate_limit=rate_limit, throttling_burst_limit=burst_limit,
            ),
        )
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True)
        integration = apigw.LambdaIntegration(self.guarded.function)
        for name, (method, path) in API_ROUTES.items():
            self.api.root.resource_for_path(path).add_method(
                method, integration, operation_name=name, request_validator=validator)
        for rule, reason in {
            "AwsSolutions-APIG3": "Every request must be SigV4-signed by a principal of this "
                                  "account (IAM authorization); a WAF would add cost and no "
                                  "protection an anonymous caller could reach.",
            "AwsSolutions-COG4": "The API uses IAM authorization, not Cognito: callers are the "
                                 "training instances' roles and the team's IAM principals.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]":
                "The account-level API Gateway logging role uses the AWS-managed policy made "
                "for exactly that purpose.",
        }.items():
            Validations.of(self).acknowledge(Ack(id=rule, reason=reason))
