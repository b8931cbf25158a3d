"""Granular cdk-nag acknowledgements: one finding, on one construct, with its reason."""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def nag_text(value: Any) -> str:
    """A resolved CloudFormation value written the way cdk-nag names it in a finding."""
    if isinstance(value, str):
        # cdk-nag writes IAM policy variables such as ${ec2:InstanceID} as <ec2:InstanceID>.
        return re.sub(r"\$\{([^}]+)\}", r"<\1>", value)
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(nag_text(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    raise ValueError(f"cannot name {value!r} as cdk-nag does")


def acknowledge_wildcard_resource(scope: IConstruct, resource: str, reason: str) -> None:
    """Acknowledge AwsSolutions-IAM5 for exactly this wildcard resource on `scope`."""
    name = nag_text(Stack.of(scope).resolve(resource))
    Validations.of(scope).acknowledge(
        Acknowledgment(id=f"AwsSolutions-IAM5[Resource::{name}]", reason=reason))
