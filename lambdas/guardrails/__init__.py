"""Training-run guardrails: the code deployed to Lambda."""
