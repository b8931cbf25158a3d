#!/usr/bin/env python3
"""CDK app: GuardrailsStack with cdk-nag AwsSolutions checks. `make synth` or `cdk synth`."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from infra.app_builder import build_app  # noqa: E402

if __name__ == "__main__":
    build_app().synth()
