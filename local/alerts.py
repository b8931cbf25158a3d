"""Alerts as they are published: one readable line each, and every alert in a JSON-lines
file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO


def line(alert: dict[str, Any]) -> str:
    figures = alert.get("figures") or {}
    shown = [f"{name}={value}" for name, value in figures.items() if value is not None]
    return (f"{alert.get('time', '?')[:19]}  {alert.get('instance_id', '?'):<20} "
            f"{alert.get('rule', '?'):<18} {alert.get('severity', '?'):<8} "
            + (" ".join(shown) + "  " if shown else "")
            + str(alert.get("message", ""))[:160])


class AlertSink:
    def __init__(self, sqs: Any, queue_url: str, path: Path, out: TextIO) -> None:
        self.sqs, self.queue_url, self.path, self.out = sqs, queue_url, path, out

    def drain(self) -> int:
        got = 0
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return got
            for message in messages:
                alert = json.loads(json.loads(message["Body"])["Message"])
                with self.path.open("a") as file:
                    file.write(json.dumps(alert, sort_keys=True) + "\n")
                print(f"ALERT {line(alert)}", file=self.out, flush=True)
                self.sqs.delete_message(QueueUrl=self.queue_url,
                                        ReceiptHandle=message["ReceiptHandle"])
                got += 1
