"""`guardctl local`: run the whole product on this machine until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from local.runtime import OPERATOR_KEY, OPERATOR_SECRET, LocalStack


def run(port: int, speed: float, alerts: Path) -> int:
    print(f"guardrails local: starting the emulator and the stack (speed x{speed:g})...",
          file=sys.stderr, flush=True)
    stack = LocalStack(port=port, speed=speed, alerts_path=alerts).start()
    url = stack.url
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
    stopping = threading.Event()

    def interrupted(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    # With a timeout: a signal the kernel hands to another thread only sets a flag, which the
    # main thread reads when it wakes; a bare wait() could sleep through Ctrl-C.
    while not stopping.wait(0.5):
        pass
    print("guardrails local: stopping", file=sys.stderr, flush=True)
    stack.stop()
    return 0
