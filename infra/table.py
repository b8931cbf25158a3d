"""The one DynamoDB table: instance item collections, alert claims, price cache."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from guardrails import constants as c


class GuardrailsTable(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=c.PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=c.SK, type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            time_to_live_attribute=c.TTL_ATTRIBUTE,
            # The table holds the audit trail and the accounting: keep it if the stack goes.
            removal_policy=RemovalPolicy.RETAIN,
            # Sparse: only LOCK items carry `live`, so the sweep finds stale runs in one Query.
            global_secondary_indexes=[dynamodb.GlobalSecondaryIndexPropsV2(
                index_name=c.LIVE_INDEX,
                partition_key=dynamodb.Attribute(name=c.LIVE_INDEX_PK,
                                                 type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=c.LIVE_INDEX_SK,
                                            type=dynamodb.AttributeType.STRING),
            )],
        )
