"""Function configuration, read once from the environment the stack sets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from guardrails import constants as c
from guardrails.domain.enforcement import HardLimits
from guardrails.domain.thresholds import Thresholds


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    table_name: str = Field(alias=c.ENV_TABLE_NAME, min_length=1)
    alerts_topic_arn: str = Field(alias=c.ENV_ALERTS_TOPIC_ARN, min_length=1)
    schedule_group: str = Field(alias=c.ENV_SCHEDULE_GROUP, min_length=1)
    scheduler_role_arn: str = Field(alias=c.ENV_SCHEDULER_ROLE_ARN, min_length=1)
    # on_state_change gets it from the stack; sweep targets itself (its context ARN).
    sweep_function_arn: str | None = Field(default=None, alias=c.ENV_SWEEP_FUNCTION_ARN)
    max_uptime_hours: Decimal = Field(
        default=Decimal(c.DEFAULT_MAX_UPTIME_HOURS), alias=c.ENV_MAX_UPTIME_HOURS, gt=0)
    max_accumulated_usd: Decimal = Field(
        default=Decimal(c.DEFAULT_MAX_ACCUMULATED_USD), alias=c.ENV_MAX_ACCUMULATED_USD, gt=0)
    max_hourly_usd: Decimal = Field(
        default=Decimal(c.DEFAULT_MAX_HOURLY_USD), alias=c.ENV_MAX_HOURLY_USD, gt=0)
    uptime_step_hours: Decimal = Field(
        default=Decimal(c.DEFAULT_UPTIME_STEP_HOURS), alias=c.ENV_UPTIME_STEP_HOURS, ge=0)
    cost_step_usd: Decimal = Field(
        default=Decimal(c.DEFAULT_COST_STEP_USD), alias=c.ENV_COST_STEP_USD, ge=0)

    # The training instances' role: only its sessions may write runs (the API function only).
    instance_role_name: str | None = Field(default=None, alias=c.ENV_INSTANCE_ROLE_NAME)
    heartbeat_timeout_minutes: int = Field(
        default=c.DEFAULT_HEARTBEAT_TIMEOUT_MINUTES, alias=c.ENV_HEARTBEAT_TIMEOUT_MINUTES,
        ge=1, le=24 * 60)

    # The pre-termination workflow and the guards (issue 4).
    state_machine_arn: str | None = Field(default=None, alias=c.ENV_STATE_MACHINE_ARN)
    checkpoint_bucket: str | None = Field(default=None, alias=c.ENV_CHECKPOINT_BUCKET)
    upload_timeout_seconds: int = Field(
        default=c.DEFAULT_UPLOAD_TIMEOUT_SECONDS, alias=c.ENV_UPLOAD_TIMEOUT_SECONDS,
        ge=30, le=24 * 3600)
    upload_poll_seconds: int = Field(
        default=c.DEFAULT_UPLOAD_POLL_SECONDS, alias=c.ENV_UPLOAD_POLL_SECONDS, ge=0, le=300)
    terminate_wait_seconds: float = Field(
        default=c.DEFAULT_TERMINATE_WAIT_SECONDS, alias=c.ENV_TERMINATE_WAIT_SECONDS,
        ge=0, le=25)
    trusted_role_arns: str = Field(default="", alias=c.ENV_TRUSTED_ROLE_ARNS)

    # Enforcement (issue 5): hard limits, off unless set.
    stop_at_usd: Decimal | None = Field(default=None, alias=c.ENV_STOP_AT_USD, gt=0)
    stop_at_hours: Decimal | None = Field(default=None, alias=c.ENV_STOP_AT_HOURS, gt=0)
    stop_grace_minutes: int = Field(default=c.DEFAULT_STOP_GRACE_MINUTES,
                                    alias=c.ENV_STOP_GRACE_MINUTES, ge=0, le=24 * 60)
    max_snooze_hours: int = Field(default=c.DEFAULT_MAX_SNOOZE_HOURS,
                                  alias=c.ENV_MAX_SNOOZE_HOURS, ge=1, le=24 * 30)
    enforcement_dry_run: bool = Field(default=True, alias=c.ENV_ENFORCEMENT_DRY_RUN)
    idle_stop_minutes: int | None = Field(default=None, alias=c.ENV_IDLE_STOP_MINUTES, ge=5,
                                          le=7 * 24 * 60)
    idle_cpu_percent: Decimal = Field(default=Decimal(c.DEFAULT_IDLE_CPU_PERCENT),
                                      alias=c.ENV_IDLE_CPU_PERCENT, gt=0, le=100)
    checkpoint_wait_minutes: int = Field(default=c.DEFAULT_CHECKPOINT_WAIT_MINUTES,
                                         alias=c.ENV_CHECKPOINT_WAIT_MINUTES, ge=1, le=240)

    @property
    def hard_limits(self) -> HardLimits:
        return HardLimits(stop_at_usd=self.stop_at_usd, stop_at_hours=self.stop_at_hours,
                          grace=timedelta(minutes=self.stop_grace_minutes),
                          max_snooze=timedelta(hours=self.max_snooze_hours),
                          dry_run=self.enforcement_dry_run,
                          idle_minutes=self.idle_stop_minutes,
                          idle_cpu_percent=self.idle_cpu_percent)

    @property
    def trusted_roles(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.trusted_role_arns.split(",") if r.strip())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return cls.model_validate(dict(os.environ if env is None else env))

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            max_uptime_hours=self.max_uptime_hours,
            max_accumulated_usd=self.max_accumulated_usd,
            max_hourly_usd=self.max_hourly_usd,
            uptime_step_hours=self.uptime_step_hours,
            cost_step_usd=self.cost_step_usd,
        )
