"""The role training instances run with: exactly what the training side needs."""

from __future__ import annotations

from aws_cdk import Acknowledgment as Ack
from aws_cdk import Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from guardrails.routing import API_ROUTES, INSTANCE_ONLY_ROUTES
from infra.api import STAGE
from infra.nag import acknowledge_wildcard_resource

# IAM's own variable for the instance a role session runs on.
OWN_PREFIX = "${ec2:InstanceID}"
READ_ROUTES = ("get_instance",)
SSM_AGENT_POLICY = "AmazonSSMManagedInstanceCore"


class TrainingInstanceRole(Construct):
    """Created before the API (whose function must know the role's name), granted after."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Training instances: register runs and checkpoints, upload to S3",
            # The SSM agent: the live-run check, checkpoint uploads on terminate, and the
            # spot-warning checkpoint all reach the instance through Run Command.
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                SSM_AGENT_POLICY)])
        Validations.of(self.role).acknowledge(Ack(
            id=f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
               f"{SSM_AGENT_POLICY}]",
            reason="AWS's own policy for the SSM agent on an instance, maintained with the "
                   "agent; the guardrails reach training instances through Run Command."))
        self.profile = iam.InstanceProfile(self, "Profile", role=self.role)

    def grant(self, api: apigw.RestApi, bucket: s3.IBucket) -> None:
        routes = sorted(INSTANCE_ONLY_ROUTES) + list(READ_ROUTES)
        invoke = [api.arn_for_execute_api(API_ROUTES[r][0], _wild(API_ROUTES[r][1]), STAGE)
                  for r in routes]
        self.role.add_to_policy(iam.PolicyStatement(actions=["execute-api:Invoke"],
                                                    resources=invoke))
        own_objects = bucket.arn_for_objects(f"{OWN_PREFIX}/*")
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:GetObject"], resources=[own_objects]))
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{OWN_PREFIX}/*"]}}))
        for resource in [*invoke, own_objects]:
            acknowledge_wildcard_resource(
                self.role, resource,
                reason="Path parameters (instance, run) are only known at run time; the API "
                       "itself refuses writes to another instance, and S3 access is limited "
                       "to the instance's own prefix (${ec2:InstanceID}).")


def _wild(path: str) -> str:
    """/instances/{instance_id}/runs -> /instances/*/runs, as execute-api ARNs write it."""
    return "/".join("*" if part.startswith("{") else part for part in path.split("/"))
