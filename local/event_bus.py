"""EventBridge on the emulator: the stack's rules, from the patterns and handlers in
guardrails.routing, on the default bus, each with an SQS queue as its target. moto matches
put events against the patterns and queues them; the local loop takes them off and runs the
rule's handler.

The EC2 event source puts its state changes here, as EC2 does. Anyone else can put an
event too, as in AWS (with the AWS CLI: `aws events put-events`): a spot interruption
warning or a CloudTrail call reaches the guard as it would in an account."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from guardrails.routing import (
    GUARD_HANDLER,
    ON_STATE_CHANGE_HANDLER,
    PROTECTION_CHANGE_PATTERN,
    SPOT_WARNING_PATTERN,
    STATE_CHANGE_PATTERN,
)
from local.resources import ACCOUNT

# Rule name -> (pattern, handler).
RULES: Final[dict[str, tuple[dict[str, Any], str]]] = {
    "guardrails-state-change": (STATE_CHANGE_PATTERN, ON_STATE_CHANGE_HANDLER),
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


def put_on_bus(events: Any, envelopes: list[dict[str, Any]]) -> None:
    """Put events given in EventBridge's envelope, keeping their time."""
    entries = [{"Source": e["source"], "DetailType": e["detail-type"],
                "Detail": json.dumps(e["detail"]), "Resources": e["resources"],
                "Time": e["time"]} for e in envelopes]
    for start in range(0, len(entries), 10):  # PutEvents takes ten at a time
        events.put_events(Entries=entries[start:start + 10])


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
                event = json.loads(message["Body"])
                event.setdefault("account", ACCOUNT)  # EventBridge sets it; moto leaves it out
                taken.append((queue.handler, event))
                sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    return taken
