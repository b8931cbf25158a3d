"""How busy an instance was: CloudWatch's CPUUtilization, and the GPU utilization the
CloudWatch agent publishes (CWAgent nvidia_smi_utilization_gpu), highest over a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from guardrails.adapters.clients import client

GPU_NAMESPACE = "CWAgent"
GPU_METRIC = "nvidia_smi_utilization_gpu"
PERIOD_SECONDS = 60


@dataclass(frozen=True)
class Utilization:
    cpu_peak: float | None  # None: no data in the window
    gpu_peak: float | None  # None: the agent publishes no GPU metric for this instance
    gpu_metrics: int = 0


def peak(instance_id: str, start: datetime, end: datetime) -> Utilization:
    cloudwatch: Any = client("cloudwatch")
    cpu = _max(cloudwatch, "AWS/EC2", "CPUUtilization",
               [{"Name": "InstanceId", "Value": instance_id}], start, end)
    # The agent adds dimensions (GPU index, name...) beside InstanceId: find every series.
    listed = cloudwatch.list_metrics(Namespace=GPU_NAMESPACE, MetricName=GPU_METRIC,
                                     Dimensions=[{"Name": "InstanceId", "Value": instance_id}])
    series = listed.get("Metrics", [])
    gpu_values = [v for m in series
                  if (v := _max(cloudwatch, GPU_NAMESPACE, GPU_METRIC, m["Dimensions"], start,
                                end)) is not None]
    return Utilization(cpu, max(gpu_values) if gpu_values else None, len(series))


def _max(cloudwatch: Any, namespace: str, metric: str, dimensions: list[dict[str, str]],
         start: datetime, end: datetime) -> float | None:
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=metric, Dimensions=dimensions, StartTime=start,
        EndTime=end, Period=PERIOD_SECONDS, Statistics=["Maximum"])
    points = [float(p["Maximum"]) for p in answer.get("Datapoints", [])]
    return max(points) if points else None
