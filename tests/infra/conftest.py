"""Synthesize the stack once per module: jsii start-up costs seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Validations
from aws_cdk.assertions import Template

from guardrails.constants import STACK_NAME
from infra.app_builder import build_app

ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def synth(tmp_path: Path, **overrides: Any) -> tuple[App, Template]:
    """The app as `cdk synth` builds it from cdk.json, with context overrides (`-c k=v`)."""
    app = build_app({**cdk_json_context(), **overrides}, outdir=str(tmp_path))
    stack = app.node.find_child(STACK_NAME)
    template = Template.from_stack(stack)  # type: ignore[arg-type]
    return app, template



def acknowledgements(app: App) -> dict[str, str]:
    """Every Validations.of(...).acknowledge(...) in the app: 'path rule' -> reason."""
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found: dict[str, str] = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                for rule, reason in entry.data.items():
                    found[f"{construct.node.path} {rule}"] = reason
    return found


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The stack from cdk.json's context, synthesized once per test process."""
    return synth(tmp_path_factory.mktemp("default"))[1]


def resources(template: Template, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(kind)
    return found
