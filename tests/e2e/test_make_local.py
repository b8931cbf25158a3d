"""`make local`, the README's first command, as a newcomer runs it: it starts, serves the
commands its banner suggests (the AWS CLI and guardctl), and Ctrl-C stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.e2e.test_local_mode import OPERATOR, ROOT


def test_make_local_starts_serves_the_suggested_commands_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    # Given a shell with no AWS settings (and not inside the make that runs the tests)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "MAKE")) and k not in ("MFLAGS", "GUARDRAILS_API")}
    alerts = tmp_path / "alerts.jsonl"
    # When a user types `make local` (in its own process group, as a terminal runs it)
    with (tmp_path / "make.stderr").open("w") as errors:
        make = subprocess.Popen(["make", "--no-print-directory", "local",
                                 f"LOCAL_ARGS=--port 0 --alerts {alerts}"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors,
                                text=True, start_new_session=True)
    try:
        assert make.stdout is not None
        lines = [make.stdout.readline()]
        while "Ctrl-C" not in lines[-1]:  # the banner's last line
            lines.append(make.stdout.readline())
            assert lines[-1], "make local ended before it was ready"
        # Then the first two lines are for scripts, and the banner says what to do next
        [first, second] = [line for line in lines if "=http://127.0.0.1:" in line][:2]
        assert first.startswith("AWS_ENDPOINT_URL=") and second.startswith("GUARDRAILS_API=")
        endpoint = first.split("=", 1)[1].strip()
        assert second.strip() == f"GUARDRAILS_API={endpoint}"
        banner = "".join(lines)
        assert str(alerts) in banner and "export AWS_ENDPOINT_URL=" in banner
        assert "guardctl status" in banner and "aws ec2 run-instances" in banner
        port = int(endpoint.rsplit(":", 1)[1])
        # And the commands it suggests work as shown, with the exports it prints
        shell = {**env, **OPERATOR, "AWS_ENDPOINT_URL": endpoint, "GUARDRAILS_API": endpoint}
        empty = subprocess.run([str(ROOT / ".venv/bin/guardctl"), "status"], env=shell,
                               capture_output=True, text=True, timeout=60)
        assert empty.returncode == 0 and "no tracked instances" in empty.stdout, empty.stderr
        launched = subprocess.run(
            [str(ROOT / ".venv/bin/aws"), "ec2", "run-instances", "--image-id", "ami-12c6146b",
             "--instance-type", "p4d.24xlarge"],
            env=shell, capture_output=True, text=True, timeout=60)
        assert launched.returncode == 0, launched.stderr
        iid = json.loads(launched.stdout)["Instances"][0]["InstanceId"]
        deadline = time.monotonic() + 30
        while True:  # the guardrails see the launch through the EC2 event source
            status = subprocess.run([str(ROOT / ".venv/bin/guardctl"), "status"], env=shell,
                                    capture_output=True, text=True, timeout=60)
            assert status.returncode == 0, status.stderr
            if iid in status.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert iid in status.stdout and "p4d.24xlarge" in status.stdout, status.stdout
        # And Ctrl-C (SIGINT to the foreground process group) stops everything
        os.killpg(make.pid, signal.SIGINT)
        make.communicate(timeout=60)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
    said = (tmp_path / "make.stderr").read_text()
    assert "guardrails local: stopping" in said and "Traceback" not in said, said[-2000:]
    # make reports the interrupt the way it does for any job stopped with Ctrl-C
    assert make.returncode in (0, 2, 130, -signal.SIGINT), make.returncode
    with socket.socket() as probe:  # nothing is left listening on the port
        assert probe.connect_ex(("127.0.0.1", port)) != 0
