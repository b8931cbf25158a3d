"""Grants more than one construct gives its functions: SSM Run Command on the account's
instances, and changes to instances."""

from __future__ import annotations

from aws_cdk import Stack

from infra.function import GuardedFunction
from infra.nag import acknowledge_wildcard_resource

SSM_UNSCOPED = ["ssm:DescribeInstanceInformation", "ssm:GetCommandInvocation"]


def instances_arn(fn: GuardedFunction) -> str:
    return Stack.of(fn).format_arn(service="ec2", resource="instance", resource_name="*")


def grant_ssm_commands(fn: GuardedFunction) -> None:
    """AWS-RunShellScript on any instance of the account, and reading how it went."""
    stack = Stack.of(fn)
    document = stack.format_arn(service="ssm", account="", resource="document",
                                resource_name="AWS-RunShellScript")
    fn.allow(["ssm:SendCommand"], [document, instances_arn(fn)])
    fn.allow(SSM_UNSCOPED, ["*"])
    acknowledge_wildcard_resource(
        fn.role, instances_arn(fn),
        reason="Any instance of the account may run training; the commands are fixed by the "
               "code (ps, kill -USR1, aws s3 cp of recorded checkpoints) and only through the "
               "AWS-RunShellScript document.")
    acknowledge_wildcard_resource(
        fn.role, "*",
        reason=f"{', '.join(SSM_UNSCOPED)} do not support resource-level permissions "
               "(Service Authorization Reference); they read.")


def grant_instance_changes(fn: GuardedFunction, actions: list[str], reason: str) -> None:
    fn.allow(actions, [instances_arn(fn)])
    acknowledge_wildcard_resource(fn.role, instances_arn(fn), reason=reason)
