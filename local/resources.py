"""The stack's resources, created on the emulator with the names local mode uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from guardrails import constants as c
from guardrails.adapters.schema import create_table_request
from local.lambda_runtime import deploy_workflow

ACCOUNT = "123456789012"
REGION = "us-east-1"
TABLE = "guardrails"
TOPIC = "guardrails-alerts"
QUEUE = "guardrails-alerts-local"
BUCKET = "guardrails-checkpoints"
GROUP = "guardrails-crossings"
INSTANCE_ROLE = "guardrails-instance"
SWEEP_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:guardrails-sweep"
SCHEDULER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/guardrails-scheduler"
TRUST_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": "ec2.amazonaws.com"}}]})


@dataclass(frozen=True)
class LocalResources:
    environment: dict[str, str]
    alerts_queue_url: str
    instance_role_arn: str


def create(aws: Any) -> LocalResources:
    """`aws(service)` gives an emulator client."""
    aws("dynamodb").create_table(**create_table_request(TABLE))
    topic = aws("sns").create_topic(Name=TOPIC)["TopicArn"]
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url,
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    aws("s3").create_bucket(Bucket=BUCKET)
    aws("scheduler").create_schedule_group(Name=GROUP)
    iam = aws("iam")
    role = iam.create_role(RoleName=INSTANCE_ROLE, AssumeRolePolicyDocument=TRUST_EC2)
    machine = deploy_workflow(iam, aws("lambda"), aws("stepfunctions"))
    environment = {
        c.ENV_TABLE_NAME: TABLE, c.ENV_ALERTS_TOPIC_ARN: topic, c.ENV_SCHEDULE_GROUP: GROUP,
        c.ENV_SCHEDULER_ROLE_ARN: SCHEDULER_ROLE_ARN, c.ENV_SWEEP_FUNCTION_ARN: SWEEP_ARN,
        c.ENV_INSTANCE_ROLE_NAME: INSTANCE_ROLE, c.ENV_STATE_MACHINE_ARN: machine,
        c.ENV_CHECKPOINT_BUCKET: BUCKET, c.ENV_UPLOAD_POLL_SECONDS: "2",
    }
    return LocalResources(environment, queue_url, str(role["Role"]["Arn"]))
