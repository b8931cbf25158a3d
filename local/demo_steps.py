"""The demo's ten steps. Each acts as a user would, checks what the guardrails did, and
returns what happened and the simulated time it happened at."""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from guardrails.constants import TAG_IDLE_STOP_MINUTES
from local import resources

if TYPE_CHECKING:
    from local.demo import Demo

Result = tuple[str, datetime]
LATENESS_LIMIT = timedelta(seconds=60)
IDLE_MINUTES = 30
IDLE_TAGS = [{"ResourceType": "instance",
              "Tags": [{"Key": TAG_IDLE_STOP_MINUTES, "Value": str(IDLE_MINUTES)}]}]
QUIET_HOURS = 6


class StepFailed(RuntimeError):
    """A guardrail did not do what the step expects; the message says what was seen."""


def _failed(message: str) -> StepFailed:
    return StepFailed(message)


def _alert_time(alert: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(alert["time"])


def run_instance(ec2: Any, instance_type: str, **extra: Any) -> dict[str, Any]:
    """`aws ec2 run-instances` of one instance, as a user launches it."""
    launched: dict[str, Any] = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=instance_type,
        **extra)["Instances"][0]
    return launched


def launch(demo: Demo) -> Result:
    p4d, g5 = demo.launch("p4d.24xlarge"), demo.launch("g5.xlarge")
    demo.ids.update(p4d=p4d["InstanceId"], g5=g5["InstanceId"])
    demo.launched["g5"] = g5["LaunchTime"]
    demo.say(f"aws ec2 run-instances: p4d.24xlarge {p4d['InstanceId']}, "
             f"g5.xlarge {g5['InstanceId']}")
    return f"p4d {p4d['InstanceId']} and g5 {g5['InstanceId']} running", p4d["LaunchTime"]


def rate_warning(demo: Demo) -> Result:
    p4d = demo.ids["p4d"]
    [alert] = demo.wait_for("the p4d's rate warning", lambda: demo.alerts(p4d, "rate"))
    figures = alert["figures"]
    demo.facts["p4d_rate_usd_per_hour"] = figures["rate_usd_per_hour"]
    return (f"p4d warned at launch: ${figures['rate_usd_per_hour']:.2f}/h is over "
            f"${alert['threshold']:g}/h"), _alert_time(alert)


def training_progress(demo: Demo) -> Result:
    p4d = demo.ids["p4d"]
    demo.training = demo.train(p4d, "--epochs", "6")
    demo.say(f"train_with_checkpoints.py --epochs 6, as {p4d} (its role's credentials)")

    def progress() -> str | None:
        shown = demo.guardctl("status", p4d).stdout
        found = re.search(r"\] ([1-9])/6", shown)
        return found.group(0)[2:] if found else None

    epochs = demo.wait_for("guardctl status to show training progress", progress, 90)
    demo.say(f"guardctl status {p4d}: live run at epoch {epochs}")
    demo.facts["status_epoch"] = epochs
    return f"guardctl status showed the live run at epoch {epochs}", demo.now()


def second_start_blocked(demo: Demo) -> Result:
    p4d = demo.ids["p4d"]
    second = demo.guardctl("runs", "start", p4d, "--epochs", "3", "--pid", "99",
                           as_instance=p4d)
    if second.returncode != 3 or "already has a live training run" not in second.stderr:
        raise _failed(f"a second start was not refused: exit {second.returncode} "
                      f"{second.stderr.strip()}")
    demo.say(second.stderr.strip().splitlines()[0])
    demo.facts["second_start"] = {"exit": second.returncode, "said": second.stderr.strip()}
    at = demo.now()
    training = demo.training
    assert training is not None  # started by the step before
    output, _ = training.communicate(timeout=120)
    if training.returncode != 0:
        raise _failed(f"training failed: {output[-500:]}")
    return "second start refused (exit 3), naming the live run", at


def terminate_blocked(demo: Demo) -> Result:
    p4d = demo.ids["p4d"]
    newest = max((demo.workdir / p4d).glob("epoch-*.npz"))
    blocked = demo.guardctl("terminate", p4d)
    if blocked.returncode != 3 or str(newest.resolve()) not in blocked.stderr:
        raise _failed(f"terminate was not blocked on {newest.name}: exit "
                      f"{blocked.returncode} {blocked.stderr.strip()[:300]}")
    demo.say(f"guardctl terminate {p4d}: blocked (exit 3), {newest.name} is only on the "
             "instance")
    demo.facts["terminate_blocked"] = {"exit": blocked.returncode, "names": str(newest),
                                       "state": demo.state(p4d)}
    if demo.state(p4d) != "running":
        raise _failed("the p4d is not running after a blocked terminate")
    return f"terminate blocked (exit 3): {newest.name} only on the instance", demo.now()


def terminate_with_upload(demo: Demo) -> Result:
    p4d = demo.ids["p4d"]
    done = demo.guardctl("terminate", p4d, "--upload-checkpoints", "--wait")
    if done.returncode != 0:
        raise _failed(f"terminate --upload-checkpoints failed: exit {done.returncode} "
                      f"{done.stderr.strip()[:300]}")
    listed = demo.aws("s3").list_objects_v2(Bucket=resources.BUCKET, Prefix=f"{p4d}/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    local = sorted((demo.workdir / p4d).glob("epoch-*.npz"))
    if len(keys) < len(local) or demo.state(p4d) not in ("shutting-down", "terminated"):
        raise _failed(f"{len(keys)} of {len(local)} checkpoints in S3, p4d "
                      f"{demo.state(p4d)}")
    demo.facts["terminate_upload"] = {"exit": done.returncode, "in_s3": len(keys),
                                      "on_disk": len(local), "state": demo.state(p4d)}
    demo.say(f"uploaded and verified {len(keys)} checkpoints to s3://{resources.BUCKET}/"
             f"{p4d}/, then terminated")
    return f"{len(keys)} checkpoints uploaded and verified, then terminated", demo.now()


def predicted_warnings(demo: Demo) -> Result:
    g5, launched = demo.ids["g5"], demo.launched["g5"]
    demo.say(f"fast-forward x{demo.fast_speed:g} until the g5 has run 24 h")
    with demo.fast_forward():
        [uptime] = demo.wait_for("the g5's 24 h uptime warning",
                                 lambda: demo.alerts(g5, "uptime"), 180)
    alerts = [a for a in demo.alerts(g5) if a["rule"] in ("cost", "uptime")]
    counts = Counter((a["rule"], a["threshold"]) for a in alerts)
    if any(n > 1 for n in counts.values()):
        raise _failed(f"an alert came more than once: {counts}")
    rate = uptime["figures"]["rate_usd_per_hour"]
    lateness = []
    for alert in alerts:
        hours = alert["threshold"] / rate if alert["rule"] == "cost" else alert["threshold"]
        late = _alert_time(alert) - (launched + timedelta(hours=hours))
        if not timedelta(0) <= late <= LATENESS_LIMIT:
            raise _failed(f"{alert['rule']} {alert['threshold']:g} came {late} after its "
                          "crossing")
        lateness.append(late.total_seconds())
        demo.facts.setdefault("g5_alerts", []).append(
            {"rule": alert["rule"], "threshold": alert["threshold"],
             "late_seconds": late.total_seconds()})
        demo.say(f"{alert['rule']} {alert['threshold']:g}: predicted "
                 f"{launched + timedelta(hours=hours):%H:%M:%S}, came {late.total_seconds():.0f} s "
                 "after")
    costs = sorted(a["threshold"] for a in alerts if a["rule"] == "cost")
    return (f"g5 cost ${', $'.join(f'{c:g}' for c in costs)} and uptime 24 h, once each, "
            f"at most {max(lateness):.0f} s after their crossings"), _alert_time(uptime)


def stop_silences(demo: Demo) -> Result:
    g5 = demo.ids["g5"]
    demo.aws("ec2").stop_instances(InstanceIds=[g5])
    stopped_at = demo.now()
    demo.wait_for("the g5's stop to be recorded",
                  lambda: "stopped" in demo.guardctl("status", g5).stdout, 60)
    before = len(demo.alerts(g5))
    until = stopped_at + timedelta(hours=QUIET_HOURS)
    demo.say(f"stopped the g5; fast-forward {QUIET_HOURS} h")
    with demo.fast_forward():
        demo.wait_for(f"{QUIET_HOURS} simulated hours", lambda: demo.now() > until, 120)
    later = demo.alerts(g5)[before:]
    demo.facts["g5_alerts_after_stop"] = len(later)
    if later:
        raise _failed(f"a stopped g5 was still warned: {later[0]['rule']}")
    return f"g5 stopped: no warning in the {QUIET_HOURS} h after", stopped_at


def idle_stop(demo: Demo) -> Result:
    idle = demo.launch("g5.2xlarge", TagSpecifications=IDLE_TAGS)
    iid = demo.ids["idle"] = idle["InstanceId"]
    publish_idle_metrics(demo.aws("cloudwatch"), iid, idle["LaunchTime"], hours=6)
    demo.say(f"g5.2xlarge {iid} tagged {TAG_IDLE_STOP_MINUTES}={IDLE_MINUTES}; "
             "CPU 2 %, GPU 0 % (as the CloudWatch agent reports them)")
    with demo.fast_forward():
        [grace] = demo.wait_for("the idle grace alert",
                                lambda: demo.alerts(iid, "stop-grace"), 120)
        demo.say(f"grace alert: {grace['message'][:120]}")
        demo.wait_for("the idle instance to be stopped", lambda: demo.state(iid) == "stopped",
                      120)
    [action] = demo.wait_for("the stop alert", lambda: demo.alerts(iid, "stopped"), 30)
    demo.facts["idle"] = {"grace_at": grace["time"], "stopped_at": action["time"],
                          "state": demo.state(iid)}
    return (f"idle g5.2xlarge warned at {_alert_time(grace):%H:%M}, stopped at "
            f"{_alert_time(action):%H:%M}"), _alert_time(action)


def publish_idle_metrics(cloudwatch: Any, instance_id: str, start: datetime,
                         hours: int) -> None:
    """What an idle instance reports: every 5 minutes, CPU 2 % and GPU 0 %."""
    dimensions = [{"Name": "InstanceId", "Value": instance_id}]
    stamps = [start + timedelta(minutes=5 * n) for n in range(hours * 12)]
    for namespace, metric, value in (("AWS/EC2", "CPUUtilization", 2.0),
                                     ("CWAgent", "nvidia_smi_utilization_gpu", 0.0)):
        for chunk in range(0, len(stamps), 500):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
                {"MetricName": metric, "Dimensions": dimensions, "Timestamp": stamp,
                 "Value": value, "Unit": "Percent"} for stamp in stamps[chunk:chunk + 500]])


def spot_checkpoint(demo: Demo) -> Result:
    spot = demo.launch("g5.xlarge", InstanceMarketOptions={"MarketType": "spot"})
    iid = demo.ids["spot"] = spot["InstanceId"]
    training = demo.train(iid, "--epochs", "60", "--checkpoint-interval", "1000")
    try:
        assert training.stdout is not None
        first = training.stdout.readline()
        demo.say(f"spot g5.xlarge {iid} training: {first.strip()}")
        arn = f"arn:aws:ec2:{resources.REGION}:{resources.ACCOUNT}:instance/{iid}"
        demo.aws("events").put_events(Entries=[{
            "Source": "aws.ec2", "DetailType": "EC2 Spot Instance Interruption Warning",
            "Resources": [arn],
            "Detail": json.dumps({"instance-id": iid, "instance-action": "terminate"})}])
        demo.say("EC2 Spot Instance Interruption Warning put on the event bus")
        [alert] = demo.wait_for("the spot interruption alert",
                                lambda: demo.alerts(iid, "spot-interruption"), 60)

        def saved() -> str | None:
            line = training.stdout.readline() if training.stdout else ""
            return line if "SIGUSR1" in line else None

        said = demo.wait_for("the training run to checkpoint on SIGUSR1", saved, 60)
        demo.say(f"training: {said.strip()}")
        checkpoints = demo.wait_for("the checkpoint to be recorded",
                                    lambda: _checkpoints(demo, iid), 30)
        demo.facts["spot"] = {"alert": alert["rule"], "checkpoint_epochs":
                              [c["epoch"] for c in checkpoints]}
    finally:
        training.send_signal(signal.SIGTERM)
        training.communicate(timeout=60)
    return (f"spot warning: SIGUSR1 to the run, checkpoint at epoch {checkpoints[0]['epoch']} "
            "recorded"), _alert_time(alert)


def _checkpoints(demo: Demo, instance_id: str) -> list[dict[str, Any]]:
    shown = demo.guardctl("status", instance_id, "--json")
    found: list[dict[str, Any]] = json.loads(shown.stdout).get("checkpoints") or [] \
        if shown.returncode == 0 else []
    return found


STEPS: list[tuple[str, Callable[[Demo], Result]]] = [
    ("launch a p4d.24xlarge and a g5.xlarge", launch),
    ("rate warning on the p4d (> $5/h)", rate_warning),
    ("training run as the p4d, in guardctl status", training_progress),
    ("a second training start is blocked", second_start_blocked),
    ("terminate is blocked, naming the checkpoint", terminate_blocked),
    ("terminate --upload-checkpoints succeeds", terminate_with_upload),
    ("cost and uptime warnings at predicted times", predicted_warnings),
    ("stopping the g5 silences its warnings", stop_silences),
    ("an idle instance is stopped after its grace", idle_stop),
    ("a spot interruption warning checkpoints", spot_checkpoint),
]
