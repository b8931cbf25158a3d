"""Names shared by the Lambda code, the CDK stack and the tests. One place, so they cannot drift."""

from typing import Final

# Table layout: one table, an item collection per instance.
PK: Final = "pk"
SK: Final = "sk"
TTL_ATTRIBUTE: Final = "expires_at"
INSTANCE_PREFIX: Final = "INSTANCE#"
META_SK: Final = "META"
ALERT_SK_PREFIX: Final = "ALERT#"
PRICE_PREFIX: Final = "PRICE#"
PRICE_SK: Final = "PRICE"

# Environment variables the stack sets on every function (read once, in guardrails.settings).
ENV_TABLE_NAME: Final = "TABLE_NAME"
ENV_ALERTS_TOPIC_ARN: Final = "ALERTS_TOPIC_ARN"
ENV_SCHEDULE_GROUP: Final = "SCHEDULE_GROUP"
ENV_SCHEDULER_ROLE_ARN: Final = "SCHEDULER_ROLE_ARN"
ENV_SWEEP_FUNCTION_ARN: Final = "SWEEP_FUNCTION_ARN"
ENV_MAX_UPTIME_HOURS: Final = "MAX_UPTIME_HOURS"
ENV_MAX_ACCUMULATED_USD: Final = "MAX_ACCUMULATED_USD"
ENV_MAX_HOURLY_USD: Final = "MAX_HOURLY_USD"
ENV_UPTIME_STEP_HOURS: Final = "UPTIME_STEP_HOURS"
ENV_COST_STEP_USD: Final = "COST_STEP_USD"

# Instance tags a user sets to tune or silence the guardrails.
TAG_PREFIX: Final = "guardrails:"
TAG_EXEMPT: Final = "guardrails:exempt"
TAG_MAX_UPTIME_HOURS: Final = "guardrails:max-uptime-hours"
TAG_MAX_ACCUMULATED_USD: Final = "guardrails:max-accumulated-usd"
TAG_MAX_HOURLY_USD: Final = "guardrails:max-hourly-usd"

# Alert rules (also the SNS message attribute `rule`).
RULE_RATE: Final = "rate"
RULE_UPTIME: Final = "uptime"
RULE_COST: Final = "cost"
RULE_PRICE_UNKNOWN: Final = "price-unknown"

SEVERITY_INFO: Final = "info"
SEVERITY_WARNING: Final = "warning"
SEVERITY_HIGH: Final = "high"

# Names of the deployed pieces.
STACK_NAME: Final = "GuardrailsStack"
METRICS_NAMESPACE: Final = "TrainingGuardrails"
SERVICE_NAME: Final = "guardrails"
PRICE_CACHE_TTL_HOURS: Final = 24

# Threshold defaults (cdk.json context overrides them per deployment, tags per instance).
DEFAULT_MAX_UPTIME_HOURS: Final = 24
DEFAULT_MAX_ACCUMULATED_USD: Final = 10
DEFAULT_MAX_HOURLY_USD: Final = 5
DEFAULT_UPTIME_STEP_HOURS: Final = 24
DEFAULT_COST_STEP_USD: Final = 10

# Training registry items in an instance's collection.
LOCK_SK: Final = "LOCK"
RUN_SK_PREFIX: Final = "RUN#"
CHECKPOINT_SK_PREFIX: Final = "CKPT#"

# Live runs: a sparse index over LOCK items, sorted by their last heartbeat.
LIVE_INDEX: Final = "live-runs"
LIVE_INDEX_PK: Final = "live"
LIVE_INDEX_SK: Final = "heartbeat_at"
LIVE_INDEX_VALUE: Final = "LOCK"
RULE_STALE_RUN: Final = "stale-run"
ENV_HEARTBEAT_TIMEOUT_MINUTES: Final = "HEARTBEAT_TIMEOUT_MINUTES"
DEFAULT_HEARTBEAT_TIMEOUT_MINUTES: Final = 10
ENV_INSTANCE_ROLE_NAME: Final = "INSTANCE_ROLE_NAME"

# Pre-termination workflow (issue 4).
AUDIT_SK_PREFIX: Final = "AUDIT#"
ENV_STATE_MACHINE_ARN: Final = "STATE_MACHINE_ARN"
ENV_CHECKPOINT_BUCKET: Final = "CHECKPOINT_BUCKET"
ENV_UPLOAD_TIMEOUT_SECONDS: Final = "UPLOAD_TIMEOUT_SECONDS"
ENV_UPLOAD_POLL_SECONDS: Final = "UPLOAD_POLL_SECONDS"
ENV_TERMINATE_WAIT_SECONDS: Final = "TERMINATE_WAIT_SECONDS"
# Roles that may lift termination protection without an alert (the guardrails' own).
ENV_TRUSTED_ROLE_ARNS: Final = "TRUSTED_ROLE_ARNS"
DEFAULT_UPLOAD_TIMEOUT_SECONDS: Final = 1800
DEFAULT_UPLOAD_POLL_SECONDS: Final = 10
# API Gateway ends an integration at 29 s: answer 202 with the execution id before that.
DEFAULT_TERMINATE_WAIT_SECONDS: Final = 20
RULE_TERMINATION: Final = "termination"
RULE_POST_MORTEM: Final = "post-mortem"
RULE_SPOT_INTERRUPTION: Final = "spot-interruption"
RULE_PROTECTION_REMOVED: Final = "protection-removed"

# Enforcement (issue 5): hard limits that stop an instance, opt-in.
ENV_STOP_AT_USD: Final = "STOP_AT_USD"
ENV_STOP_AT_HOURS: Final = "STOP_AT_HOURS"
ENV_STOP_GRACE_MINUTES: Final = "STOP_GRACE_MINUTES"
ENV_MAX_SNOOZE_HOURS: Final = "MAX_SNOOZE_HOURS"
ENV_ENFORCEMENT_DRY_RUN: Final = "ENFORCEMENT_DRY_RUN"
ENV_CHECKPOINT_WAIT_MINUTES: Final = "CHECKPOINT_WAIT_MINUTES"
TAG_STOP_AT_USD: Final = "guardrails:stop-at-usd"
TAG_STOP_AT_HOURS: Final = "guardrails:stop-at-hours"
TAG_SNOOZE_UNTIL: Final = "guardrails:snooze-until"
DEFAULT_STOP_GRACE_MINUTES: Final = 15
DEFAULT_MAX_SNOOZE_HOURS: Final = 72
DEFAULT_CHECKPOINT_WAIT_MINUTES: Final = 10
RULE_STOP_COST: Final = "stop-cost"
RULE_STOP_UPTIME: Final = "stop-uptime"
RULE_STOP_GRACE: Final = "stop-grace"
RULE_STOPPED: Final = "stopped"
RULE_CANNOT_STOP: Final = "cannot-stop"
SNOOZE_SK: Final = "SNOOZE"
STOP_PENDING_SK: Final = "STOP#PENDING"
ENV_IDLE_STOP_MINUTES: Final = "IDLE_STOP_MINUTES"
ENV_IDLE_CPU_PERCENT: Final = "IDLE_CPU_PERCENT"
TAG_IDLE_STOP_MINUTES: Final = "guardrails:idle-stop-minutes"
DEFAULT_IDLE_CPU_PERCENT: Final = 5
RULE_STOP_IDLE: Final = "stop-idle"
RULE_RUN_BUDGET: Final = "run-budget"
