"""`guardctl local`: run the whole product on this machine until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from guardrails.constants import TAG_IDLE_STOP_MINUTES
from local.demo_steps import IDLE_MINUTES, IDLE_TAGS, publish_idle_metrics, run_instance
from local.runtime import OPERATOR_KEY, OPERATOR_SECRET, LocalStack


def run(port: int, speed: float, alerts: Path, seed_demo: bool = False) -> int:
    stopping = threading.Event()

    def interrupted(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    # From the start: a Ctrl-C while starting stops cleanly once the start is done.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    print(f"guardrails local: starting the emulator and the stack (speed x{speed:g})...",
          file=sys.stderr, flush=True)
    stack = LocalStack(port=port, speed=speed, alerts_path=alerts).start()
    try:
        if not stopping.is_set():
            _banner(stack.url, speed, alerts, seed(stack) if seed_demo else [])
        # With a timeout: a signal the kernel hands to another thread only sets a flag,
        # which the main thread reads when it wakes; a bare wait() could sleep through it.
        while not stopping.wait(0.5):
            pass
    finally:
        print("guardrails local: stopping", file=sys.stderr, flush=True)
        stack.stop()
    return 0


def _banner(url: str, speed: float, alerts: Path, seeded: list[str]) -> None:
    # The first two lines are for scripts: keep them word for word.
    print(f"AWS_ENDPOINT_URL={url}")
    print(f"GUARDRAILS_API={url}")
    print(f"Alerts are printed here and kept in {alerts.resolve()}")
    print(f"""
Use it from another terminal:
  export AWS_ENDPOINT_URL={url} GUARDRAILS_API={url}
  export AWS_ACCESS_KEY_ID={OPERATOR_KEY} AWS_SECRET_ACCESS_KEY={OPERATOR_SECRET}
  export AWS_DEFAULT_REGION=us-east-1
boto3, the AWS CLI and guardctl then talk to this stack. Try:
  aws ec2 run-instances --image-id ami-12c6146b --instance-type p4d.24xlarge
  guardctl status
  guardctl terminate <instance id>
The local clock runs x{speed:g}; Ctrl-C stops everything.""", flush=True)
    for line in seeded:
        print(line, flush=True)


def seed(stack: LocalStack) -> list[str]:
    """The demo's instances, launched as a user would, for something to watch at once."""
    ec2 = stack.aws("ec2")
    p4d, g5 = run_instance(ec2, "p4d.24xlarge"), run_instance(ec2, "g5.xlarge")
    idle = run_instance(ec2, "g5.2xlarge", TagSpecifications=IDLE_TAGS)
    publish_idle_metrics(stack.aws("cloudwatch"), idle["InstanceId"], idle["LaunchTime"],
                         hours=24)
    return ["", "Seeded (--seed-demo):",
            f"  {p4d['InstanceId']}  p4d.24xlarge: a rate warning now, cost warnings every $10",
            f"  {g5['InstanceId']}  g5.xlarge: cost warnings every $10, uptime at 24 h",
            f"  {idle['InstanceId']}  g5.2xlarge, idle (CPU 2 %, GPU 0 %), tagged "
            f"{TAG_IDLE_STOP_MINUTES}={IDLE_MINUTES}: a would-stop alert (dry run)"]
