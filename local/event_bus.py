"""EventBridge on the emulator: the stack's rules, from the patterns in guardrails.routing,
on the default bus, each with an SQS queue as its target. moto matches put events against
the patterns and queues them; the local loop takes them off and runs the rule's handler.

Anyone can put an event, as in AWS (with the AWS CLI: `aws events put-events`): a spot
interruption warning or a CloudTrail call reaches the guard as it would in an account."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from guardrails.routing import (
    GUARD_HANDLER,
    PROTECTION_CHANGE_PATTERN,
    SPOT_WARNING_PATTERN,
)

# Rule name -> (pattern, handler). State changes come from the EC2 event source directly.
RULES: Final[dict[str, tuple[dict[str, Any], str]]] = {
    "guardrails-spot-warning": (SPOT_WARNING_PATTERN, GUARD_HANDLER),
    "guardrails-protection-change": (PROTECTION_CHANGE_PATTERN, GUARD_HANDLER),
}


@dataclass(frozen=True)
class RuleQueue:
    rule: str
    handler: str
    url: str


def create_rules(events: Any, sqs: Any) -> list[RuleQueue]:
    queues = []
    for rule, (pattern, handler) in RULES.items():
        url = sqs.create_queue(QueueName=rule)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url,
                                       AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=rule, Targets=[{"Id": "local", "Arn": arn}])
        queues.append(RuleQueue(rule, handler, url))
    return queues


def take_events(sqs: Any, queues: list[RuleQueue]) -> list[tuple[str, dict[str, Any]]]:
    """(handler, event) for every event the rules matched since the last call."""
    taken = []
    for queue in queues:
        while True:
            messages = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                break
            for message in messages:
                taken.append((queue.handler, json.loads(message["Body"])))
                sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    return taken
