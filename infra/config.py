"""Deployment settings from cdk.json context (or `-c key=value`), validated with pydantic."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from guardrails import constants as c
from guardrails.routing import DEFAULT_SWEEP_RATE_MINUTES

POWERTOOLS_LAYER_VERSION = 38


class ConfigError(ValueError):
    """A context value is wrong; the message names the key and what is expected."""


class GuardrailsConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    max_uptime_hours: Decimal = Field(default=Decimal(c.DEFAULT_MAX_UPTIME_HOURS), gt=0)
    max_accumulated_usd: Decimal = Field(default=Decimal(c.DEFAULT_MAX_ACCUMULATED_USD), gt=0)
    max_hourly_usd: Decimal = Field(default=Decimal(c.DEFAULT_MAX_HOURLY_USD), gt=0)
    uptime_step_hours: Decimal = Field(default=Decimal(c.DEFAULT_UPTIME_STEP_HOURS), ge=0)
    cost_step_usd: Decimal = Field(default=Decimal(c.DEFAULT_COST_STEP_USD), ge=0)
    sweep_rate_minutes: int = Field(default=DEFAULT_SWEEP_RATE_MINUTES, ge=1, le=1440)
    alert_emails: list[str] = Field(default_factory=list)
    slack_workspace_id: str | None = None
    slack_channel_id: str | None = None
    powertools_layer_version: int = Field(default=POWERTOOLS_LAYER_VERSION, ge=1)
    # How long the terminate workflow waits for an SSM checkpoint upload before it blocks.
    upload_timeout_seconds: int = Field(default=c.DEFAULT_UPLOAD_TIMEOUT_SECONDS, ge=60,
                                        le=4 * 3600)
    # Enforcement, opt-in: unset limits never stop anything.
    stop_at_accumulated_usd: Decimal | None = Field(default=None, gt=0)
    stop_at_uptime_hours: Decimal | None = Field(default=None, gt=0)
    stop_grace_minutes: int = Field(default=c.DEFAULT_STOP_GRACE_MINUTES, ge=0, le=24 * 60)
    max_snooze_hours: int = Field(default=c.DEFAULT_MAX_SNOOZE_HOURS, ge=1, le=24 * 30)
    idle_stop_minutes: int | None = Field(default=None, ge=5, le=7 * 24 * 60)
    idle_cpu_percent: Decimal = Field(default=Decimal(c.DEFAULT_IDLE_CPU_PERCENT), gt=0,
                                      le=100)
    checkpoint_wait_minutes: int = Field(default=c.DEFAULT_CHECKPOINT_WAIT_MINUTES, ge=1,
                                         le=240)
    # On until the "would stop" alerts look right; then set it to false.
    enforcement_dry_run: bool = True
    heartbeat_timeout_minutes: int = Field(default=c.DEFAULT_HEARTBEAT_TIMEOUT_MINUTES, ge=1,
                                           le=24 * 60)

    @field_validator("alert_emails", mode="before")
    @classmethod
    def _emails(cls, value: Any) -> Any:
        # `-c alert_emails=a@x.com,b@y.com` arrives as one string.
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("alert_emails")
    @classmethod
    def _valid_emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if "@" not in email or email.startswith("@") or email.endswith("@"):
                raise ValueError(f"{email!r} is not an email address")
        return value

    @field_validator("slack_workspace_id", "slack_channel_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_workspace_id and self.slack_channel_id)

    def function_environment(self) -> dict[str, str]:
        return {
            c.ENV_MAX_UPTIME_HOURS: str(self.max_uptime_hours),
            c.ENV_MAX_ACCUMULATED_USD: str(self.max_accumulated_usd),
            c.ENV_MAX_HOURLY_USD: str(self.max_hourly_usd),
            c.ENV_UPTIME_STEP_HOURS: str(self.uptime_step_hours),
            c.ENV_COST_STEP_USD: str(self.cost_step_usd),
            c.ENV_HEARTBEAT_TIMEOUT_MINUTES: str(self.heartbeat_timeout_minutes),
            c.ENV_STOP_GRACE_MINUTES: str(self.stop_grace_minutes),
            c.ENV_MAX_SNOOZE_HOURS: str(self.max_snooze_hours),
            c.ENV_ENFORCEMENT_DRY_RUN: str(self.enforcement_dry_run).lower(),
            **({c.ENV_STOP_AT_USD: str(self.stop_at_accumulated_usd)}
               if self.stop_at_accumulated_usd is not None else {}),
            **({c.ENV_STOP_AT_HOURS: str(self.stop_at_uptime_hours)}
               if self.stop_at_uptime_hours is not None else {}),
            **({c.ENV_IDLE_STOP_MINUTES: str(self.idle_stop_minutes)}
               if self.idle_stop_minutes is not None else {}),
            c.ENV_IDLE_CPU_PERCENT: str(self.idle_cpu_percent),
            c.ENV_CHECKPOINT_WAIT_MINUTES: str(self.checkpoint_wait_minutes),
        }


CONTEXT_KEYS = tuple(GuardrailsConfig.model_fields)


def load(context: dict[str, Any]) -> GuardrailsConfig:
    """Read the known keys from CDK context; a bad value fails the synth with a readable error."""
    values = {k: v for k, v in context.items() if k in CONTEXT_KEYS and v is not None}
    try:
        return GuardrailsConfig.model_validate(values)
    except ValidationError as error:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        raise ConfigError("invalid cdk.json context (fix it, or pass -c key=value):\n"
                          + "\n".join(lines)) from error
