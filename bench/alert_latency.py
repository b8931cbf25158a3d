"""Benchmark: how late the cost and uptime warnings come, polling-only against predicted.

A fleet of instances of mixed types (seeded, launched over the first 12 h) runs for a
simulated 48 h on moto, in two modes, with the real handlers on a simulated clock:

- polling only: the sweep every 15 minutes, no one-time schedules (what a cron-style
  checker such as Cloud Custodian or AWS Budgets' periodic evaluation does);
- predicted (the product): each crossing is scheduled for its exact minute, and the same
  15-minute sweep runs as the safety net.

Events are delivered when they happen and schedules fire at their time, as EventBridge and
Scheduler do. For every crossing of a cost level ($10, $20, ...) or an uptime level (24 h,
48 h), the delay is from the exact crossing (launch + level / rate) to the first alert that
covers it (same instance and rule, at that level or above). Prints the median and p99 delay
of each mode and their ratio. Nothing is asserted.

Usage: python bench/alert_latency.py [--instances 100] [--hours 48] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "ERROR",
                    "POWERTOOLS_METRICS_DISABLED": "true"}.items():
    os.environ[name] = value
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from guardrails import constants as c  # noqa: E402
from guardrails.adapters import clients, clock  # noqa: E402
from guardrails.adapters.schema import create_table_request  # noqa: E402
from guardrails.handlers import on_state_change, sweep  # noqa: E402
from local.ec2_events import state_change  # noqa: E402
from local.emulator_clock import on_guardrails_clock  # noqa: E402
from local.lambda_runtime import LocalContext, metrics_off  # noqa: E402

FLEET = ("g4dn.xlarge", "g5.xlarge", "g6.xlarge", "p3.2xlarge", "g5.12xlarge",
         "p4d.24xlarge")
SWEEP_EVERY = timedelta(minutes=15)
T0 = datetime(2026, 11, 2, 0, 0, 7, tzinfo=UTC)  # sweeps do not line up with whole minutes
TABLE, GROUP, ACCOUNT = "bench", "bench", "123456789012"
PRICES: dict[str, float] = json.loads(
    (ROOT / "lambdas/guardrails/adapters/bundled_prices.json").read_text())["prices"]["us-east-1"]
CONTEXT = LocalContext("sweep", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:sweep")


class NoPricingApi:
    def get_products(self, **_: Any) -> dict[str, Any]:
        return {"PriceList": []}  # the bundled table prices the instances


class Alerts:
    """The SNS topic: keeps every alert published."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def publish(self, **request: Any) -> dict[str, str]:
        self.sent.append(json.loads(request["Message"]))
        return {"MessageId": str(len(self.sent))}


class Schedules:
    """moto's Scheduler, with an index of when each one-time schedule is due (moto keeps
    them but never fires them). `predicted=False` is polling only: nothing is scheduled."""

    def __init__(self, real: Any, predicted: bool) -> None:
        self.real, self.predicted = real, predicted
        self.due: dict[str, tuple[datetime, str]] = {}

    def create_schedule(self, **request: Any) -> dict[str, Any]:
        if not self.predicted:
            return {}
        answer: dict[str, Any] = self.real.create_schedule(**request)
        self._index(request)
        return answer

    def update_schedule(self, **request: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.real.update_schedule(**request)
        self._index(request)
        return answer

    def delete_schedule(self, **request: Any) -> dict[str, Any]:
        self.due.pop(request["Name"], None)
        answer: dict[str, Any] = self.real.delete_schedule(**request)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def _index(self, request: dict[str, Any]) -> None:
        when = datetime.fromisoformat(request["ScheduleExpression"][3:-1] + "+00:00")
        self.due[request["Name"]] = (when, request["Target"]["Input"])

    def take_next(self, until: datetime) -> tuple[datetime, dict[str, Any]] | None:
        """The earliest schedule due by `until`, deleted as ActionAfterCompletion does."""
        if not self.due:
            return None
        name, (when, payload) = min(self.due.items(), key=lambda item: item[1][0])
        if when > until:
            return None
        self.delete_schedule(Name=name, GroupName=GROUP)
        return when, json.loads(payload)


@dataclass(frozen=True, order=True)
class Launch:
    at: datetime
    instance_type: str


def fleet(n: int, seed: int) -> list[Launch]:
    rng = random.Random(seed)
    return sorted(Launch(T0 + timedelta(seconds=rng.uniform(0, 12 * 3600)),
                         FLEET[i % len(FLEET)]) for i in range(n))


@contextmanager
def stack(predicted: bool) -> Iterator[tuple[Alerts, Schedules]]:
    with mock_aws(), on_guardrails_clock(), metrics_off():
        clients.reset()
        boto3.client("dynamodb").create_table(**create_table_request(TABLE))
        topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
        boto3.client("scheduler").create_schedule_group(Name=GROUP)
        os.environ.update({
            c.ENV_TABLE_NAME: TABLE, c.ENV_ALERTS_TOPIC_ARN: topic, c.ENV_SCHEDULE_GROUP: GROUP,
            c.ENV_SCHEDULER_ROLE_ARN: f"arn:aws:iam::{ACCOUNT}:role/scheduler",
            c.ENV_SWEEP_FUNCTION_ARN: CONTEXT.invoked_function_arn})
        alerts, schedules = Alerts(), Schedules(boto3.client("scheduler"), predicted)
        clients.override("pricing", NoPricingApi())
        clients.override("sns", alerts)
        clients.override("scheduler", schedules)
        try:
            yield alerts, schedules
        finally:
            clients.reset()


Fleet = dict[str, Launch]  # instance id -> its launch


def simulate(launches: list[Launch], hours: float, predicted: bool
             ) -> tuple[list[dict[str, Any]], Fleet]:
    end = T0 + timedelta(hours=hours)
    launched: Fleet = {}
    with stack(predicted) as (alerts, schedules):
        ec2 = boto3.client("ec2")
        pending = list(launches)
        next_sweep = T0 + SWEEP_EVERY
        fired = 0
        while True:
            launch_at = pending[0].at if pending else end
            due = schedules.take_next(min(launch_at, next_sweep, end))
            if due is not None:
                at, payload = due
                freeze(at)
                sweep.handler(payload, CONTEXT)
                fired += 1
            elif pending and launch_at <= next_sweep:
                launch = pending.pop(0)
                freeze(launch.at)
                launched[_launch(ec2, launch)] = launch
            elif next_sweep <= end:
                freeze(next_sweep)
                sweep.handler({"detail-type": "Scheduled Event"}, CONTEXT)
                next_sweep += SWEEP_EVERY
                if (next_sweep - T0) % timedelta(hours=6) == timedelta(0):
                    progress(f"{'predicted' if predicted else 'polling'}: "
                             f"{(next_sweep - T0) / timedelta(hours=1):.0f} h simulated, "
                             f"{len(alerts.sent)} alerts, {fired} schedules fired")
            else:
                return alerts.sent, launched


def freeze(when: datetime) -> None:
    """Every handler (and moto's EC2) reads this time until the next freeze."""
    clock.now = lambda: when


def _launch(ec2: Any, launch: Launch) -> str:
    """Launch at the clock's time, and deliver its state changes as EventBridge does."""
    iid: str = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 InstanceType=launch.instance_type)["Instances"][0]["InstanceId"]
    for state in ("pending", "running"):
        on_state_change.handler(state_change(iid, state, clock.now()), CONTEXT)
    return iid


def delays(alerts: list[dict[str, Any]], launched: Fleet, hours: float
           ) -> tuple[list[float], int]:
    """Seconds from each crossing to the first alert covering it, and how many crossings
    got no alert at all. Crossings come from the launch and the bundled on-demand price."""
    end = T0 + timedelta(hours=hours)
    found, missed = [], 0
    for iid, launch in launched.items():
        rate = PRICES[launch.instance_type]
        mine = [(a["rule"], a["threshold"], datetime.fromisoformat(a["time"]))
                for a in alerts if a.get("instance_id") == iid]
        levels = [(c.RULE_COST, 10.0 * k, 10.0 * k / rate) for k in range(1, 100_000)
                  if 10.0 * k / rate <= hours]
        levels += [(c.RULE_UPTIME, 24.0 * k, 24.0 * k) for k in range(1, int(hours / 24) + 1)]
        for rule, level, after_hours in levels:
            at = launch.at + timedelta(hours=after_hours)
            if at > end:
                continue
            covering = [when for r, threshold, when in mine
                        if r == rule and threshold >= level - 1e-9
                        and when >= at - timedelta(seconds=1)]
            if covering:
                found.append((min(covering) - at).total_seconds())
            else:
                missed += 1
    return found, missed


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--hours", type=float, default=48.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    launches = fleet(args.instances, args.seed)
    mix = ", ".join(f"{sum(x.instance_type == t for x in launches)} {t}" for t in FLEET)
    print(f"Alert latency: {args.instances} instances ({mix}), {args.hours:g} h simulated, "
          f"sweep every {SWEEP_EVERY.total_seconds() / 60:.0f} min")
    results: dict[str, tuple[list[float], int, float]] = {}
    for mode, predicted in (("polling only", False), ("predicted", True)):
        started = time.perf_counter()
        alerts, launched = simulate(launches, args.hours, predicted)
        found, missed = delays(alerts, launched, args.hours)
        results[mode] = (found, missed, time.perf_counter() - started)
    print(f"  {'mode':<14}{'crossings':>10}{'median':>10}{'p99':>10}{'max':>10}"
          f"{'no alert':>10}{'wall':>8}")
    for mode, (found, missed, wall) in results.items():
        if not found:
            print(f"  {mode:<14}no crossing in {args.hours:g} h")
            continue
        print(f"  {mode:<14}{len(found):>10}{statistics.median(found):>9.0f}s"
              f"{p99(found):>9.0f}s{max(found):>9.0f}s{missed:>10}{wall:>7.0f}s")
    polling, scheduled = results["polling only"][0], results["predicted"][0]
    if not polling or not scheduled:
        return
    print(f"  polling median / predicted median: "
          f"{statistics.median(polling) / max(statistics.median(scheduled), 1):.0f}x; "
          f"predicted p99 {p99(scheduled):.0f} s (target: at most 60 s); "
          f"polling median {statistics.median(polling) / 60:.1f} min (expected ~7.5 min)")


if __name__ == "__main__":
    main()
