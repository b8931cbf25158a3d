"""Builds the CDK app the same way for `cdk synth`, `make synth` and the tests."""

from __future__ import annotations

import os
from typing import Any

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from guardrails.constants import STACK_NAME
from infra.config import CONTEXT_KEYS, load
from infra.stack import GuardrailsStack


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app with GuardrailsStack and cdk-nag AwsSolutions checks on every synth."""
    app = App(context=context or {}, outdir=outdir)
    config = load({k: app.node.try_get_context(k) for k in CONTEXT_KEYS})
    account, region = os.getenv("CDK_DEFAULT_ACCOUNT"), os.getenv("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None
    GuardrailsStack(app, STACK_NAME, config=config, env=env,
                    description="Training-run guardrails: cost warnings for GPU instances")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
