"""`guardctl demo`: every guardrail at work on a fresh local stack, narrated, then a summary
table. The demo is a user: it launches instances with boto3, trains with the real script as
an instance, and calls guardctl; only the clock is in its hands (fast-forward while nothing
but time has to pass)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

from local import resources
from local.demo_steps import STEPS, StepFailed, run_instance
from local.runtime import OPERATOR_KEY, OPERATOR_SECRET, LocalStack

T = TypeVar("T")
# Steps where people act run at a minute a second; time-driven steps fast-forward.
INTERACTIVE_SPEED = 60.0
DEFAULT_FAST_SPEED = 3600.0


@dataclass
class Row:
    number: int
    guardrail: str
    outcome: str = "not run"
    at: datetime | None = None  # simulated time the guardrail acted
    ok: bool = False


@dataclass
class Demo:
    stack: LocalStack
    fast_speed: float
    out: TextIO
    workdir: Path
    rows: list[Row] = field(default_factory=list)
    started: datetime | None = None  # simulated time of the first step
    ids: dict[str, str] = field(default_factory=dict)
    launched: dict[str, datetime] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # what the steps measured
    training: subprocess.Popen[str] | None = None

    # ---- what a user has: boto3, guardctl, the alerts file --------------------------------
    def aws(self, service: str) -> Any:
        return self.stack.aws(service)

    def env(self, instance_id: str | None = None) -> dict[str, str]:
        """The environment of a shell on this machine, or on `instance_id` (its role's
        session, as the instance profile gives it)."""
        env = {**os.environ, "AWS_ENDPOINT_URL": self.stack.url,
               "GUARDRAILS_API": self.stack.url, "AWS_DEFAULT_REGION": resources.REGION,
               "AWS_ACCESS_KEY_ID": OPERATOR_KEY, "AWS_SECRET_ACCESS_KEY": OPERATOR_SECRET}
        env.pop("AWS_SESSION_TOKEN", None)
        if instance_id is not None:
            creds = self.aws("sts").assume_role(
                RoleArn=f"arn:aws:iam::{resources.ACCOUNT}:role/{resources.INSTANCE_ROLE}",
                RoleSessionName=instance_id)["Credentials"]
            env.update({"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                        "AWS_SESSION_TOKEN": creds["SessionToken"],
                        "GUARDRAILS_INSTANCE_ID": instance_id})
        return env

    def guardctl(self, *args: str, as_instance: str | None = None
                 ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "training.guardctl", *args],
                              env=self.env(as_instance), capture_output=True, text=True,
                              timeout=180)

    def train(self, instance_id: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "training.train_with_checkpoints", "--epoch-seconds", "1",
             "--heartbeat-seconds", "1", "--output-dir", str(self.workdir / instance_id),
             *args],
            env=self.env(instance_id), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)

    def launch(self, instance_type: str, **extra: Any) -> dict[str, Any]:
        return run_instance(self.aws("ec2"), instance_type, **extra)

    def state(self, instance_id: str) -> str:
        reservations = self.aws("ec2").describe_instances(InstanceIds=[instance_id])
        return str(reservations["Reservations"][0]["Instances"][0]["State"]["Name"])

    def alerts(self, instance_id: str, rule: str | None = None) -> list[dict[str, Any]]:
        path = self.stack.alerts_path
        found = [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []
        return [a for a in found if a.get("instance_id") == instance_id
                and (rule is None or a.get("rule") == rule)]

    def now(self) -> datetime:
        return self.stack.clock.now()

    # ---- pacing -------------------------------------------------------------------------
    def wait_for(self, what: str, check: Callable[[], T | None], seconds: float = 60) -> T:
        """`check()` once it is truthy, within `seconds` of real time."""
        deadline = time.monotonic() + seconds
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise StepFailed(f"waited {seconds:g} s for {what}")
            time.sleep(0.2)

    @contextmanager
    def fast_forward(self) -> Iterator[None]:
        self.stack.clock.set_speed(self.fast_speed)
        try:
            yield
        finally:
            self.stack.clock.set_speed(INTERACTIVE_SPEED)

    def say(self, text: str) -> None:
        print(f"      {text}", file=self.out, flush=True)


def run(fast_speed: float = DEFAULT_FAST_SPEED, summary: Path | None = None,
        out: TextIO = sys.stdout) -> int:
    print("guardrails demo: starting a fresh local stack (emulator on 127.0.0.1)...",
          file=out, flush=True)
    with tempfile.TemporaryDirectory(prefix="guardrails-demo-") as tmp:
        workdir = Path(tmp)
        stack = LocalStack(port=0, speed=INTERACTIVE_SPEED, alerts_path=workdir / "alerts.jsonl",
                           out=out, environment={"ENFORCEMENT_DRY_RUN": "false"}).start()
        demo = Demo(stack, fast_speed, out, workdir)
        try:
            failed = _run_steps(demo)
        except KeyboardInterrupt:
            print("\nguardrails demo: interrupted; stopping the local stack", file=out)
            return 130
        finally:
            if demo.training is not None and demo.training.poll() is None:
                demo.training.kill()
            stack.stop()
        _print_table(demo, out)
        if summary is not None:
            summary.write_text(json.dumps(_summary(demo), indent=2))
    return 1 if failed else 0


def _run_steps(demo: Demo) -> bool:
    start = demo.started = demo.now()
    for number, (guardrail, step) in enumerate(STEPS, start=1):
        row = Row(number, guardrail)
        demo.rows.append(row)
        print(f"\n[{number}/{len(STEPS)}] {guardrail}", file=demo.out, flush=True)
        try:
            row.outcome, row.at = step(demo)
        except Exception as error:  # reported as the step's failure; the demo exits 1
            said = str(error) if isinstance(error, StepFailed) else (
                f"{type(error).__name__}: {error}")
            row.outcome = f"FAILED: {said}"
            print(f"      FAILED: {said}", file=demo.out, flush=True)
            for later, (name, _) in enumerate(STEPS[number:], start=number + 1):
                demo.rows.append(Row(later, name))
            return True
        row.ok = True
        demo.say(f"ok at t+{_elapsed(row.at - start)}: {row.outcome}")
    return False


def _elapsed(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _print_table(demo: Demo, out: TextIO) -> None:
    start = demo.started
    print("\nWhat each guardrail did, and when (simulated time since the first launch):",
          file=out)
    print(f"  {'#':>2}  {'guardrail':<44} {'when':>8}  result", file=out)
    for row in demo.rows:
        when = _elapsed(row.at - start) if row.at and start else "-"
        mark = "ok" if row.ok else ("--" if row.outcome == "not run" else "FAILED")
        print(f"  {row.number:>2}  {row.guardrail:<44} {when:>8}  {mark:<6} {row.outcome}",
              file=out)
    print(f"\n{sum(r.ok for r in demo.rows)} of {len(demo.rows)} steps passed.", file=out,
          flush=True)


def _summary(demo: Demo) -> dict[str, Any]:
    return {"instances": demo.ids, "facts": demo.facts, "steps": [
        {"step": r.number, "guardrail": r.guardrail, "ok": r.ok, "outcome": r.outcome,
         "at": r.at.isoformat() if r.at else None} for r in demo.rows]}
