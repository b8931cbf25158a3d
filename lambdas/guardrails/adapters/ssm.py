"""Ask an instance over SSM Run Command whether a process is alive (`ps -p PID`)."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from guardrails.adapters.clients import client

# What `pid_alive` can say.
ALIVE = "alive"
DEAD = "dead"
UNMANAGED = "unmanaged"  # no SSM agent online: the registry alone decides
UNKNOWN = "unknown"  # SSM is there but gave no clear answer: treat the run as alive
POLL_SECONDS = 1.0
DEFAULT_TIMEOUT_SECONDS = 20.0


def managed(instance_id: str) -> bool:
    """True if the SSM agent on the instance is registered and online."""
    answer = client("ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    return any(info.get("PingStatus") == "Online"
               for info in answer.get("InstanceInformationList", []))


def pid_alive(instance_id: str, pid: int, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> str:
    """ALIVE or DEAD from `ps -p PID` on the instance; UNMANAGED without SSM; UNKNOWN when
    SSM is there but did not answer clearly in time."""
    try:
        if not managed(instance_id):
            return UNMANAGED
    except (ClientError, BotoCoreError):
        return UNMANAGED
    try:
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
                return ALIVE
            if status == "Failed" and result.get("ResponseCode") == 1:
                return DEAD  # ps exits 1 when there is no such process
            if status in ("Cancelled", "TimedOut", "Failed"):
                return UNKNOWN
    except (ClientError, BotoCoreError):
        return UNKNOWN
    return UNKNOWN
