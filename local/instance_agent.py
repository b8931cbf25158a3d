"""SSM Run Command, answered the way the SSM agent on an instance would: the commands the
guardrails send (`aws s3 cp`, `kill -USR1`, `ps -p`) are carried out here with boto3 and
`os`. Local mode uses it because the emulator's "instances" are this machine; the tests use
it with recorders in place of real signals.

moto's own send_command runs nothing and always answers with empty output."""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from guardrails.adapters.s3 import split_uri


@dataclass
class Invocation:
    instance_id: str
    commands: list[str]
    status: str = "Success"
    code: int = 0
    stderr: str = ""
    polls_left: int = 0  # how many times to answer InProgress before the result


def _os_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class LocalInstanceAgent:
    s3: Any
    online: set[str] | None = None  # None: every instance has its agent online
    send_signal: Callable[[int, int], None] = os.kill
    process_alive: Callable[[int], bool] = _os_alive
    polls_in_progress: int = 0  # answer InProgress this many times first
    invocations: dict[str, Invocation] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)  # operations to fail, for fault tests

    def _fail_if_asked(self, operation: str) -> None:
        if operation in self.failing:
            raise ClientError({"Error": {"Code": "InternalServerError",
                                         "Message": f"injected {operation} failure"}},
                              operation)

    def describe_instance_information(self, Filters: Iterable[dict[str, Any]] = (),
                                      **_: Any) -> dict[str, Any]:
        self._fail_if_asked("DescribeInstanceInformation")
        wanted = [v for f in Filters if f.get("Key") == "InstanceIds" for v in f["Values"]]
        return {"InstanceInformationList": [
            {"InstanceId": iid, "PingStatus": "Online"} for iid in wanted
            if self.online is None or iid in self.online]}

    def send_command(self, InstanceIds: list[str], Parameters: dict[str, list[str]],
                     **_: Any) -> dict[str, Any]:
        self._fail_if_asked("SendCommand")
        command_id = str(uuid.uuid4())
        for iid in InstanceIds:
            run = Invocation(iid, list(Parameters["commands"]),
                             polls_left=self.polls_in_progress)
            self._execute(run)
            self.invocations[command_id] = run
        return {"Command": {"CommandId": command_id}}

    def get_command_invocation(self, CommandId: str, InstanceId: str,
                               **_: Any) -> dict[str, Any]:
        self._fail_if_asked("GetCommandInvocation")
        run = self.invocations.get(CommandId)
        if run is None or run.instance_id != InstanceId:
            raise ClientError({"Error": {"Code": "InvocationDoesNotExist", "Message": ""}},
                              "GetCommandInvocation")
        if run.polls_left > 0:
            run.polls_left -= 1
            return {"Status": "InProgress", "ResponseCode": -1}
        return {"Status": run.status, "ResponseCode": run.code,
                "StandardErrorContent": run.stderr}

    def commands_sent(self, instance_id: str) -> list[str]:
        return [line for run in self.invocations.values() if run.instance_id == instance_id
                for line in run.commands]

    # ---- what the agent does on the instance -----------------------------------------------
    def _execute(self, run: Invocation) -> None:
        for line in run.commands:
            words = shlex.split(line)
            try:
                if words[:3] == ["aws", "s3", "cp"]:
                    self._copy(words[3:])
                elif words[0] == "echo" and words[2:] == ["|", "sha256sum", "--check",
                                                          "--status"]:
                    self._check_sha256(words[1])
                elif words[:2] == ["kill", "-USR1"]:
                    self.send_signal(int(words[2]), signal.SIGUSR1)
                elif words[:2] == ["ps", "-p"]:
                    if not self.process_alive(int(words[2])):
                        run.status, run.code = "Failed", 1
                        return
                elif words != ["set", "-e"]:
                    raise ValueError(f"the local agent does not run: {line}")
            except Exception as error:
                run.status, run.code, run.stderr = "Failed", 1, f"{line}: {error}"
                return

    def _check_sha256(self, line: str) -> None:
        digest, path = line.split("  ", 1)
        actual = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if actual != digest:
            raise ValueError(f"{path}: FAILED (sha256 {actual}, expected {digest})")

    def _copy(self, words: list[str]) -> None:
        source, target = Path(words[0]), words[1]
        bucket, key = split_uri(target)
        options: dict[str, str] = {}
        rest = iter(words[2:])
        for word in rest:
            if word in ("--checksum-algorithm", "--metadata"):
                options[word] = next(rest)
        metadata = dict(pair.split("=", 1) for pair in
                        [options["--metadata"]] if "--metadata" in options)
        extra: dict[str, Any] = {"Metadata": metadata}
        if options.get("--checksum-algorithm"):
            extra["ChecksumAlgorithm"] = options["--checksum-algorithm"]
        with source.open("rb") as body:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body.read(), **extra)
