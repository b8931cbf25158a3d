"""Request and response bodies of the REST API (pydantic, so OpenAPI is generated from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from guardrails.events import INSTANCE_ID_PATTERN

InstanceId = Annotated[str, Field(pattern=INSTANCE_ID_PATTERN, description="EC2 instance id")]
RunId = Annotated[str, Field(pattern=r"^[0-9T]{21}-[0-9a-f]{6}$", description="run id")]
MetricValue = Annotated[float, Field(allow_inf_nan=False, ge=-1e100, le=1e100)]
MetricName = Annotated[str, Field(min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4096)


class StartRunBody(Strict):
    pid: int = Field(gt=0, le=4_194_304, description="process id of the training process")
    command: str = Field(min_length=1, max_length=4096, description="the command line")
    total_epochs: int = Field(ge=1, le=1_000_000)
    checkpoint_interval: int = Field(default=1, ge=1, le=1_000_000,
                                     description="epochs between checkpoints (1: every epoch)")
    queue: bool = Field(default=False,
                        description="if a run is live, queue this one instead of refusing it")
    budget_usd: float | None = Field(
        default=None, gt=0, le=10_000_000, allow_inf_nan=False,
        description="alert once if the run is forecast to cost more than this to finish")


class HeartbeatBody(Strict):
    epoch: int = Field(ge=0, le=1_000_000, description="epochs completed")
    step: int = Field(ge=0, le=10**12, description="step within the epoch")
    total: int = Field(ge=1, le=1_000_000, description="total epochs")
    metrics: dict[MetricName, MetricValue] = Field(default_factory=dict, max_length=32)


class CheckpointBody(Strict):
    path: str = Field(min_length=1, max_length=1024, description="path on the instance")
    epoch: int = Field(ge=0, le=1_000_000)
    bytes: int = Field(ge=0, le=10**14)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    s3_uri: str | None = Field(default=None, max_length=1100,
                               pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")


class FinishBody(Strict):
    status: Literal["finished", "failed"]


class ProgressOut(BaseModel):
    epoch: int
    total: int
    fraction: float
    seconds_per_epoch: float | None
    eta: datetime | None


class RunOut(BaseModel):
    run_id: str
    instance_id: str
    status: str
    pid: int
    command: str
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    ended_at: datetime | None
    progress: ProgressOut
    metrics: dict[str, float]
    budget_usd: float | None = None
    spent_usd: float | None = Field(default=None, description="instance cost since the start")
    forecast_usd: float | None = Field(
        default=None, description="spent, plus the remaining epochs at the run's pace")


class CheckpointOut(BaseModel):
    run_id: str
    epoch: int
    path: str
    bytes: int
    sha256: str
    s3_uri: str | None
    uploaded: bool
    recorded_at: datetime


class InstanceOut(BaseModel):
    instance_id: str
    instance_type: str | None
    lifecycle: str | None
    state: str | None
    uptime_hours: float | None
    accumulated_usd: float | None = Field(description="null when the price is unknown")
    rate_usd_per_hour: float | None
    warnings: list[str] = Field(description="alert rules that have fired for this instance")
    live_run: RunOut | None
    protected: bool | None = Field(description="EC2 termination protection, as last set")
    protection_note: str | None


class InstanceDetailOut(InstanceOut):
    runs: list[RunOut] = Field(description="newest first, at most 200")
    runs_total: int
    checkpoints: list[CheckpointOut] = Field(description="the newest 200, oldest first")
    checkpoints_total: int
    protection_reasons: list[str]


class StartRunOut(BaseModel):
    run: RunOut
    queued: bool
    protected: bool | None


class FinishOut(BaseModel):
    run_id: str
    status: str
    promoted: RunOut | None


class AckOut(BaseModel):
    ok: bool = True
    protected: bool | None = None
    protection_reasons: list[str] = Field(default_factory=list)
