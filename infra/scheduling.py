"""The EventBridge Scheduler group for one-time crossing schedules, and the role they run as."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from infra.nag import acknowledge_wildcard_resource

# Listing is not scoped to a group in IAM; the stack grants it with its other unscoped reads.
LIST_SCHEDULES = "scheduler:ListSchedules"


class CrossingSchedules(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.group = scheduler.ScheduleGroup(self, "Group")
        self.role = iam.Role(
            self, "InvokeRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": stack.account}}),
            description="Lets one-time crossing schedules invoke the sweep for one instance",
        )
        self.schedules_arn = stack.format_arn(
            service="scheduler", resource="schedule",
            resource_name=f"{self.group.schedule_group_name}/*")

    def allow_invoke(self, function: lambda_.IFunction) -> None:
        self.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["lambda:InvokeFunction"], resources=[function.function_arn]))

    def grant_manage(self, role: iam.Role) -> None:
        """Create, move and delete schedules in this group, and hand them the invoke role."""
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule",
                     "scheduler:DeleteSchedule"],
            resources=[self.schedules_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[self.role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}))
        acknowledge_wildcard_resource(
            role, self.schedules_arn,
            reason="Schedule names are made at runtime (one per instance and rule); the "
                   "permission is limited to this stack's own schedule group.")
