"""Benchmark: the sweep over N running instances on moto, printed as ratios (nothing asserted).

1. AWS calls of a steady-state sweep, by operation, against the floor:
   ceil(N/1000) DescribeInstances + ceil(N/100) BatchGetItem + 0 writes, plus the one Query
   of the live-runs index that finds silent training runs.
2. Wall time of that sweep against a bare loop doing the same reads and nothing else.
3. Cold import time of each handler module against `import boto3` alone, in a fresh
   interpreter, median of 5.

Usage: python bench/sweep.py [--instances 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "WARNING",
                    "POWERTOOLS_METRICS_DISABLED": "true"}.items():
    os.environ[name] = value
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from guardrails import constants as c  # noqa: E402
from guardrails.adapters import clients, clock  # noqa: E402
from guardrails.adapters.schema import create_table_request  # noqa: E402
from guardrails.adapters.table import BATCH_GET_LIMIT, instance_key  # noqa: E402
from guardrails.handlers import sweep  # noqa: E402

HANDLERS = ("guardrails.handlers.on_state_change", "guardrails.handlers.sweep",
            "guardrails.handlers.api", "guardrails.handlers.termination",
            "guardrails.handlers.on_guard_event")
# The libraries a handler cannot do without; what is above this is the project's own code.
DEPENDENCY_FLOOR = ("import boto3; from pydantic import BaseModel, Field; "
                    "from aws_lambda_powertools import Logger, Metrics")
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "Publish",
          "CreateSchedule", "UpdateSchedule", "DeleteSchedule"}
TABLE, GROUP = "bench", "bench"
ACCOUNT = "123456789012"
SWEEP_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:sweep"


class Context:
    function_name = "sweep"
    memory_limit_in_mb = 512
    invoked_function_arn = SWEEP_ARN
    aws_request_id = "bench"


class NoPricingApi:
    def get_products(self, **_: Any) -> dict[str, Any]:
        return {"PriceList": []}  # the bundled table prices the instances


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def setup(n: int) -> Any:
    ddb = boto3.client("dynamodb")
    ddb.create_table(**create_table_request(TABLE))
    topic = boto3.client("sns").create_topic(Name="alerts")["TopicArn"]
    boto3.client("scheduler").create_schedule_group(Name=GROUP)
    os.environ.update({
        c.ENV_TABLE_NAME: TABLE, c.ENV_ALERTS_TOPIC_ARN: topic, c.ENV_SCHEDULE_GROUP: GROUP,
        c.ENV_SCHEDULER_ROLE_ARN: f"arn:aws:iam::{ACCOUNT}:role/scheduler",
    })
    clients.override("pricing", NoPricingApi())
    ec2 = boto3.client("ec2")
    progress(f"launching {n} g5.xlarge instances in moto")
    for start in range(0, n, 500):
        count = min(500, n - start)
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=count, MaxCount=count,
                          InstanceType="g5.xlarge")
    launched = ec2.describe_instances(MaxResults=5)["Reservations"][0]["Instances"][0][
        "LaunchTime"]
    return launched


def run_sweep() -> dict[str, Any]:
    result: dict[str, Any] = sweep.handler({"detail-type": "Scheduled Event"}, Context())
    return result


def bare_reads() -> None:
    """What the sweep cannot avoid: list running instances, read their records."""
    ec2, ddb = clients.client("ec2"), clients.client("dynamodb")
    ids = []
    for page in ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}],
            PaginationConfig={"PageSize": 1000}):
        ids += [i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]]
    for start in range(0, len(ids), BATCH_GET_LIMIT):
        keys = [instance_key(i) for i in ids[start:start + BATCH_GET_LIMIT]]
        ddb.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}})


def count_calls(action: Callable[[], object]) -> Counter[str]:
    seen: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    for service in ("ec2", "dynamodb", "sns", "scheduler"):
        clients.client(service).meta.events.register("before-call", hook)
    try:
        action()
    finally:
        for service in ("ec2", "dynamodb", "sns", "scheduler"):
            clients.client(service).meta.events.unregister("before-call", hook)
    return seen


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def cold_import(statement: str, repeats: int) -> float:
    runs = []
    # No bytecode cache, as in Lambda: the asset ships without __pycache__.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lambdas"), "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c",
             f"import time; t = time.perf_counter(); {statement}; "
             "print(time.perf_counter() - t)"],
            capture_output=True, text=True, check=True, env=env, cwd=ROOT)
        runs.append(float(out.stdout.strip()))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=1000, help="running instances (1000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each (5)")
    args = parser.parse_args()
    n = args.instances

    with mock_aws():
        launched = setup(n)
        progress("first sweep: reconciles every instance (records, prices, schedules)")
        monkey_now = launched + timedelta(hours=1)
        clock.now = lambda: monkey_now
        first = run_sweep()
        progress(f"reconciled {first['reconciled']} instances; measuring the steady state")
        monkey_now = launched + timedelta(hours=1, minutes=15)

        calls = count_calls(run_sweep)
        # One Query of the live-runs index finds silent training runs (none here).
        floor = Counter({"DescribeInstances": math.ceil(n / 1000),
                         "BatchGetItem": math.ceil(n / 100), "Query": 1})
        writes = sum(v for k, v in calls.items() if k in WRITES)
        print(f"\n1. AWS calls of a steady-state sweep over {n} running instances")
        for op in sorted(set(calls) | set(floor)):
            print(f"   {op:<18} made {calls[op]:>5}   floor {floor[op]:>5}")
        print(f"   writes             made {writes:>5}   floor     0")
        total = sum(calls.values())
        print(f"   ratio to floor: {total / sum(floor.values()):.2f}x "
              f"({total} calls vs {sum(floor.values())})")

        sweeps, bares = [], []
        for i in range(args.repeats):
            progress(f"timing run {i + 1}/{args.repeats}")
            bares.append(timed(bare_reads))
            sweeps.append(timed(run_sweep))
        s, b = statistics.median(sweeps), statistics.median(bares)
        print(f"\n2. Wall time, median of {args.repeats} (same process, same moto)")
        print(f"   sweep handler {s:.3f} s   bare reads {b:.3f} s   ratio {s / b:.2f}x "
              f"(target <= 1.30x)")

    print(f"\n3. Cold import, fresh interpreter, median of {args.repeats}")
    base = cold_import("import boto3", args.repeats)
    print(f"   import boto3{'':<40} {base:.3f} s   1.00x")
    dependencies = cold_import(DEPENDENCY_FLOOR, args.repeats)
    print(f"   {'boto3 + pydantic + Powertools Logger/Metrics':<52} {dependencies:.3f} s   "
          f"{dependencies / base:.2f}x (what every handler must import)")
    for module in HANDLERS:
        seconds = cold_import(f"import {module}", args.repeats)
        print(f"   import {module:<45} {seconds:.3f} s   {seconds / base:.2f}x (target <= 1.30x)")


if __name__ == "__main__":
    main()
