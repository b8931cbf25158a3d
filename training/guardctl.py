"""guardctl: the command line of training-run guardrails.

Exit codes: 0 done, 1 failure (API unreachable, server error), 2 usage error,
3 refused by a guardrail (a run is already live; a terminate that would lose work).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from training.client import ApiError, ApiUnreachable, GuardrailsClient, endpoint_from

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
DESCRIPTION = """\
Training-run guardrails on AWS. The guardrails run in your account; guardctl shows what they
know and drives the training registry. Point it at the API with --endpoint or GUARDRAILS_API
(the stack's ApiUrl output); calls are signed with your AWS credentials (SigV4)."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="guardctl", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit codes: 0 ok, 1 failure, 2 usage, 3 refused")
    p.add_argument("--version", action="version", version="guardctl 0.2.0")
    p.add_argument("--endpoint", help="API URL (default: $GUARDRAILS_API)")
    commands = p.add_subparsers(dest="command", metavar="COMMAND")

    status = commands.add_parser("status", help="instances, their cost and live runs",
                                 description="Without ID: every tracked instance. With ID: "
                                             "one instance with its runs and checkpoints.")
    status.add_argument("instance_id", nargs="?", metavar="ID")
    status.add_argument("--json", action="store_true", help="print the raw records")

    runs = commands.add_parser("runs", help="start or finish a run (for scripts)")
    run_commands = runs.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = run_commands.add_parser("start", help="register a run on an instance")
    start.add_argument("instance_id", metavar="ID")
    start.add_argument("--pid", type=int, default=os.getpid(), help="default: this process")
    start.add_argument("--command", dest="run_command", default="guardctl runs start",
                       help="the training command line, for the record")
    start.add_argument("--epochs", type=int, required=True, help="total epochs")
    start.add_argument("--checkpoint-interval", type=int, default=1,
                       help="epochs between checkpoints (default 1: every epoch)")
    start.add_argument("--queue", action="store_true", help="queue behind a live run")
    start.add_argument("--budget-usd", type=float,
                       help="alert once if the run is forecast to cost more than this")
    finish = run_commands.add_parser("finish", help="end a run; the next queued run starts")
    finish.add_argument("instance_id", metavar="ID")
    finish.add_argument("run_id", metavar="RUN")
    finish.add_argument("--status", choices=("finished", "failed"), default="finished")

    terminate = commands.add_parser(
        "terminate", help="terminate, unless it would lose a run or a checkpoint",
        description="Terminate through the guardrails' workflow. It refuses (exit 3) while a "
                    "run is live or a checkpoint exists only on the instance, and says why. "
                    "--upload-checkpoints copies such checkpoints to S3 first (over SSM), "
                    "verifies them, then terminates. --force overrides the guardrails, with "
                    "a reason that is audited and alerted.",
        epilog="exit codes: 0 terminated, 1 failure or not terminated yet (without --wait), "
               "2 usage, 3 blocked by a guardrail")
    terminate.add_argument("instance_id", metavar="ID")
    terminate.add_argument("--force", action="store_true",
                           help="terminate even if unsafe (needs --reason)")
    terminate.add_argument("--reason", help="why; required with --force, kept in the audit")
    terminate.add_argument("--upload-checkpoints", action="store_true",
                           help="copy checkpoints that are only on the instance to S3 first")
    terminate.add_argument("--wait", action="store_true",
                           help="while checkpoints upload, show progress until the outcome")
    terminate.add_argument("--execution", metavar="EXEC",
                           help="follow an earlier terminate request instead of starting one")
    terminate.add_argument("--poll-seconds", type=float, default=5.0, help=argparse.SUPPRESS)

    local = commands.add_parser(
        "local", help="run the whole product on this machine (no AWS account)",
        description="Start an AWS emulator on 127.0.0.1 with the guardrails stack on it: the "
                    "real handlers, an EC2 event source, the sweep and the schedules on a "
                    "local clock, and the API. Runs in the foreground until Ctrl-C.")
    local.add_argument("--port", type=int, default=8787, help="one port for the emulator "
                                                              "and the API (default 8787)")
    local.add_argument("--speed", type=float, default=1.0,
                       help="run the clock N times faster (3600: an hour a second)")
    local.add_argument("--alerts", default="local-alerts.jsonl",
                       help="where every alert is kept, one JSON object a line")
    local.add_argument("--seed-demo", action="store_true",
                       help="launch the demo's instances at start (a p4d.24xlarge, a "
                            "g5.xlarge, and an idle g5.2xlarge tagged to stop after 30 idle "
                            "minutes), so there is something to watch")

    demo = commands.add_parser(
        "demo", help="watch every guardrail work, on a fresh local stack (no AWS account)",
        description="Start a fresh local stack, then act as a user would, narrating: launch "
                    "instances with boto3, train with the real script as an instance, "
                    "call guardctl, and fast-forward the clock when only time has to pass. "
                    "Ends with a table of what each guardrail did and when. Exit 0 when every "
                    "step did what it should.")
    demo.add_argument("--speed", type=float, default=3600.0,
                      help="how fast the clock runs while fast-forwarding (default 3600: an "
                           "hour a second); steps where people act run at 60")
    demo.add_argument("--summary", metavar="FILE",
                      help="also write the outcome of each step to FILE as JSON")

    snooze = commands.add_parser(
        "snooze", help="postpone a hard-limit stop",
        description="Postpone the stop that a hard limit (stop_at_accumulated_usd, "
                    "stop_at_uptime_hours, idle_stop_minutes) would make, for N hours from "
                    "now, at most "
                    "max_snooze_hours (72 by default). Audited, with your reason.")
    snooze.add_argument("instance_id", metavar="ID")
    snooze.add_argument("--hours", type=float, required=True, help="how long, from now")
    snooze.add_argument("--reason", required=True, help="why; kept in the audit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.command is None:
        p.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "local":
        if args.speed <= 0 or not 0 <= args.port < 65536:
            p.error("--speed must be positive and --port a TCP port")
        from pathlib import Path

        from local.cli import run as run_local

        return run_local(args.port, args.speed, Path(args.alerts), seed_demo=args.seed_demo)
    if args.command == "demo":
        if args.speed < 60:
            p.error("--speed must be at least 60: a simulated day at x60 takes 24 minutes")
        from pathlib import Path

        from local.demo import run as run_demo

        return run_demo(args.speed, Path(args.summary) if args.summary else None)
    endpoint = endpoint_from(args.endpoint)
    if endpoint is None:
        print("guardctl: no API endpoint: pass --endpoint URL or set GUARDRAILS_API to the "
              "stack's ApiUrl output", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "terminate" and args.force and not (args.reason or "").strip():
        p.error("--force needs --reason TEXT: a forced termination is audited")
    client = GuardrailsClient(endpoint)
    try:
        if args.command == "status":
            return show_status(client, args.instance_id, args.json)
        if args.command == "terminate":
            return terminate(client, args)
        if args.command == "snooze":
            answer = client.snooze(args.instance_id, hours=args.hours, reason=args.reason)
            print(f"{args.instance_id}: hard-limit stops postponed until "
                  f"{answer['snoozed_until']} (audit {answer['audit_id']})")
            return EXIT_OK
        if args.action == "start":
            answer = client.start_run(
                args.instance_id, pid=args.pid, command=args.run_command,
                total_epochs=args.epochs, checkpoint_interval=args.checkpoint_interval,
                queue=args.queue,
                **({"budget_usd": args.budget_usd} if args.budget_usd is not None else {}))
            run = answer["run"]
            print(f"{'queued' if answer['queued'] else 'started'} run {run['run_id']}")
            return EXIT_OK
        answer = client.finish(args.instance_id, args.run_id, args.status)
        promoted = answer.get("promoted")
        print(f"run {args.run_id} {args.status}"
              + (f"; queued run {promoted['run_id']} started" if promoted else ""))
        return EXIT_OK
    except ApiError as error:
        if error.status == 409 and error.body.get("error") == "termination_blocked":
            print(render_blocked(error.body), file=sys.stderr)
            return EXIT_REFUSED
        print(f"guardctl: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"  hint: {error.hint}", file=sys.stderr)
        if error.status == 409:
            return EXIT_REFUSED
        return EXIT_USAGE if 400 <= error.status < 500 and error.status != 403 else EXIT_FAILED
    except ApiUnreachable as error:
        print(f"guardctl: {error}", file=sys.stderr)
        return EXIT_FAILED


def terminate(client: GuardrailsClient, args: argparse.Namespace) -> int:
    iid = args.instance_id
    if args.execution:
        answer = client.termination(iid, args.execution)
    else:
        answer = client.terminate(iid, force=args.force, reason=args.reason,
                                  upload_checkpoints=args.upload_checkpoints)
    started = time.monotonic()
    while answer.get("status") == "in_progress":
        execution = answer["execution"]
        if not args.wait:
            # Not terminated (yet): a script must not go on as if it were.
            print(f"{iid} is not terminated yet: the guardrails are still working on it "
                  f"(uploading checkpoints). Request {execution}.\n"
                  f"  follow it: guardctl terminate {iid} --execution {execution} --wait",
                  file=sys.stderr)
            return EXIT_FAILED
        progress(f"{iid}: checking, uploading checkpoints to S3 and verifying them... "
                 f"{time.monotonic() - started:.0f} s")
        time.sleep(args.poll_seconds)
        answer = client.termination(iid, execution)
    progress(None)
    print(f"{iid} terminated. {answer.get('message', '')}".rstrip())
    if answer.get("audit_id"):
        print(f"  audit: {answer['audit_id']}")
    return EXIT_OK


def progress(line: str | None) -> None:
    """One status line on stderr: rewritten in place on a terminal, appended otherwise."""
    if sys.stderr.isatty():
        print("\r\033[K" + (line or ""), end="" if line else "\n", file=sys.stderr,
              flush=True)
    elif line:
        print(line, file=sys.stderr, flush=True)


CLI_WORDS = {"upload_checkpoints=true": "--upload-checkpoints",
             "force=true with a reason": "--force --reason TEXT"}


def render_blocked(body: dict[str, Any]) -> str:
    """A blocked terminate in plain words: why, and what to do instead."""
    lines = ["Not terminated: a guardrail blocked it."]
    lines += [f"  - {reason}" for reason in body.get("reasons") or []]
    hints = body.get("hints") or []
    if hints:
        lines.append("What you can do:")
    for hint in hints:
        for api_words, cli_words in CLI_WORDS.items():
            hint = hint.replace(api_words, cli_words)
        lines.append(f"  - {hint}")
    if body.get("audit_id"):
        lines.append(f"(audited: {body['audit_id']})")
    return "\n".join(lines)


def show_status(client: GuardrailsClient, instance_id: str | None, as_json: bool) -> int:
    if instance_id:
        detail = client.instance(instance_id)
        print(json.dumps(detail, indent=2) if as_json else render_detail(detail))
    else:
        rows = client.instances()
        print(json.dumps(rows, indent=2) if as_json else render_table(rows))
    return EXIT_OK


def money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.2f}"


def bar(progress: dict[str, Any], width: int = 20) -> str:
    done = round(progress["fraction"] * width)
    eta = progress.get("eta")
    when = (f", ETA {datetime.fromisoformat(eta).astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            if eta else "")
    return f"[{'#' * done}{'-' * (width - done)}] {progress['epoch']}/{progress['total']}{when}"


def render_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no tracked instances yet (they appear at their first state change)"
    header = ("INSTANCE", "TYPE", "STATE", "UPTIME", "COST", "RATE", "WARNINGS", "LIVE RUN")
    lines = [header]
    for row in rows:
        live = row.get("live_run")
        lines.append((
            row["instance_id"], row.get("instance_type") or "?", row.get("state") or "?",
            "?" if row.get("uptime_hours") is None else f"{row['uptime_hours']:.1f} h",
            money(row.get("accumulated_usd")),
            "unknown" if row.get("rate_usd_per_hour") is None
            else f"{money(row['rate_usd_per_hour'])}/h",
            ",".join(row.get("warnings") or []) or "-",
            f"{live['run_id']} {bar(live['progress'], 10)}" if live else "-",
        ))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True))
                     .rstrip() for line in lines)


def render_detail(detail: dict[str, Any]) -> str:
    out = [render_table([detail]), ""]
    if detail.get("protection_note"):
        out.append(f"protection: {detail['protection_note']}")
    else:
        out.append(f"termination protection: {'on' if detail.get('protected') else 'off'}")
    for reason in detail.get("protection_reasons") or []:
        out.append(f"  - {reason}")
    out.append("")
    out.append("runs:")
    for run in detail.get("runs") or []:
        out.append(f"  {run['run_id']}  {run['status']:<8}  pid {run['pid']:<7}  "
                   f"{bar(run['progress'])}  {run['command']}")
        out.append(f"      spent {money(run.get('spent_usd'))}, forecast "
                   f"{money(run.get('forecast_usd'))}, budget "
                   + (money(run['budget_usd']) if run.get("budget_usd") else "none")
                   + ("  OVER BUDGET" if run.get("budget_usd") and run.get("forecast_usd")
                      and run["forecast_usd"] > run["budget_usd"] else ""))
    out.append("checkpoints:")
    for ckpt in detail.get("checkpoints") or []:
        where = ckpt["s3_uri"] or "NOT IN S3"
        out.append(f"  {ckpt['run_id']}  epoch {ckpt['epoch']:<5}  {ckpt['path']}  ->  {where}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
