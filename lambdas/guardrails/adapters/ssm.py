"""Ask an instance over SSM Run Command whether a process is alive (`ps -p PID`)."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from guardrails.adapters.clients import client

POLL_SECONDS = 1.0
DEFAULT_TIMEOUT_SECONDS = 20.0


def managed(instance_id: str) -> bool:
    """True if the SSM agent on the instance is registered and online."""
    answer = client("ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    return any(info.get("PingStatus") == "Online"
               for info in answer.get("InstanceInformationList", []))


def pid_alive(instance_id: str, pid: int,
              timeout: float = DEFAULT_TIMEOUT_SECONDS) -> bool | None:
    """True or False from `ps -p PID` on the instance; None when SSM cannot tell."""
    try:
        if not managed(instance_id):
            return None
        ssm: Any = client("ssm")
        command = ssm.send_command(
            InstanceIds=[instance_id], DocumentName="AWS-RunShellScript",
            Comment="training guardrails: is the run's process alive?",
            Parameters={"commands": [f"ps -p {int(pid)} -o pid="]}, TimeoutSeconds=30)
        command_id = command["Command"]["CommandId"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            result = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
            status = result.get("Status")
            if status == "Success":
                return True
            if status == "Failed" and result.get("ResponseCode") == 1:
                return False  # ps exits 1 when there is no such process
            if status in ("Cancelled", "TimedOut", "Failed"):
                return None
    except (ClientError, BotoCoreError):
        return None
    return None
