"""Ask an instance over SSM Run Command whether a process is alive (`ps -p PID`)."""

from __future__ import annotations

import shlex
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


# ---- commands the workflow and the guards send ---------------------------------------------
RUNNING_STATUSES = frozenset({"Pending", "InProgress", "Delayed"})
RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"


def send(instance_id: str, commands: list[str], comment: str, timeout_seconds: int) -> str:
    """Run shell commands on the instance (AWS-RunShellScript); returns the command id.
    `timeout_seconds` bounds how long they may run there."""
    answer = client("ssm").send_command(
        InstanceIds=[instance_id], DocumentName="AWS-RunShellScript", Comment=comment[:100],
        Parameters={"commands": commands,
                    "executionTimeout": [str(max(30, timeout_seconds))]},
        TimeoutSeconds=max(30, min(timeout_seconds, 2_592_000)))
    return str(answer["Command"]["CommandId"])


def command_state(instance_id: str, command_id: str) -> tuple[str, str]:
    """RUNNING, SUCCEEDED or FAILED, with what SSM said."""
    try:
        result = client("ssm").get_command_invocation(CommandId=command_id,
                                                      InstanceId=instance_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "InvocationDoesNotExist":
            return RUNNING, "the command has not reached the instance yet"
        raise
    status = str(result.get("Status"))
    if status in RUNNING_STATUSES:
        return RUNNING, status
    if status == "Success":
        return SUCCEEDED, status
    errors = str(result.get("StandardErrorContent") or "").strip()[:500]
    return FAILED, f"{status} (exit {result.get('ResponseCode')}){': ' + errors if errors else ''}"


def upload_commands(copies: list[tuple[str, str, str]]) -> list[str]:
    """For each (local path, s3 uri, sha256 hex): check the file on disk still has the
    recorded sha256, then `aws s3 cp` it with a SHA256 checksum S3 verifies and the digest in
    its metadata. The check on the instance is what proves a multipart copy (whose S3
    checksum is of its parts); `set -e` fails the command at the first mismatch."""
    lines = ["set -e"]
    for path, uri, sha in copies:
        lines.append(f"echo {shlex.quote(f'{sha}  {path}')} | sha256sum --check --status")
        lines.append(f"aws s3 cp {shlex.quote(path)} {shlex.quote(uri)} --only-show-errors "
                     f"--checksum-algorithm SHA256 --metadata sha256={shlex.quote(sha)}")
    return lines


def checkpoint_signal_command(pid: int) -> str:
    """The training agent saves and uploads a checkpoint on SIGUSR1 (training/agent.py)."""
    return f"kill -USR1 {int(pid)}"
