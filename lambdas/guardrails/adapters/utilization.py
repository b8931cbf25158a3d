"""How busy an instance was: CloudWatch's CPUUtilization, and the GPU utilization the
CloudWatch agent publishes (CWAgent nvidia_smi_utilization_gpu), highest over a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from guardrails.adapters.clients import client

GPU_NAMESPACE = "CWAgent"
GPU_METRIC = "nvidia_smi_utilization_gpu"
# Basic monitoring publishes EC2 metrics every 5 minutes.
PERIOD_SECONDS = 300


@dataclass(frozen=True)
class Utilization:
    cpu_peak: float | None  # None: no data in the window
    gpu_peak: float | None  # None: the agent publishes no GPU metric for this instance
    gpu_metrics: int = 0
    covered: bool = False  # every series has a datapoint in (nearly) every period


def peak(instance_id: str, start: datetime, end: datetime) -> Utilization:
    cloudwatch: Any = client("cloudwatch")
    # The latest period may not be published yet; every other one must be there.
    wanted = max(1, int((end - start).total_seconds() // PERIOD_SECONDS) - 1)
    cpu = _points(cloudwatch, "AWS/EC2", "CPUUtilization",
                  [{"Name": "InstanceId", "Value": instance_id}], start, end)
    # The agent adds dimensions (GPU index, name...) beside InstanceId: find every series.
    listed = cloudwatch.list_metrics(Namespace=GPU_NAMESPACE, MetricName=GPU_METRIC,
                                     Dimensions=[{"Name": "InstanceId", "Value": instance_id}])
    series = [_points(cloudwatch, GPU_NAMESPACE, GPU_METRIC, m["Dimensions"], start, end)
              for m in listed.get("Metrics", [])]
    gpu = [v for points in series for v in points]
    covered = len(cpu) >= wanted and all(len(points) >= wanted for points in series)
    return Utilization(max(cpu) if cpu else None, max(gpu) if gpu else None, len(series),
                       covered)


def _points(cloudwatch: Any, namespace: str, metric: str, dimensions: list[dict[str, str]],
            start: datetime, end: datetime) -> list[float]:
    """The highest value of each period that has data."""
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=metric, Dimensions=dimensions, StartTime=start,
        EndTime=end, Period=PERIOD_SECONDS, Statistics=["Maximum"])
    return [float(p["Maximum"]) for p in answer.get("Datapoints", [])]
