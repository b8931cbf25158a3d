"""Alerts out to the SNS topic: one message each, with attributes subscribers can filter on."""

from __future__ import annotations

import json
from typing import Any

from guardrails.adapters.clients import client
from guardrails.domain.messages import AlertMessage


class Notifier:
    def __init__(self, topic_arn: str) -> None:
        self.topic_arn = topic_arn

    def publish(self, message: AlertMessage) -> str:
        answer: dict[str, Any] = client("sns").publish(
            TopicArn=self.topic_arn,
            Subject=message.subject,
            Message=json.dumps(message.body, sort_keys=True),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in message.attributes.items()
            },
        )
        return str(answer["MessageId"])
