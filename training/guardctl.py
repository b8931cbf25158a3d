"""guardctl: the command line of training-run guardrails."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

DESCRIPTION = """\
Training-run guardrails on AWS. The guardrails themselves run in your account (deploy with
`make deploy`); guardctl is how you talk to them. Commands arrive with the next releases:
status, start/finish runs, terminate safely, snooze, and `local` (the whole product on one
machine)."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="guardctl", description=DESCRIPTION)
    p.add_argument("--version", action="version", version="guardctl 0.1.0")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    del args
    parser().print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
