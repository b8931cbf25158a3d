"""`guardctl demo` (what `make demo` runs), as a user runs it: every step of the scenario
passes on a fresh local stack, and what each guardrail did is what the issue describes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from tests.e2e.test_local_mode import ROOT


def test_the_demo_shows_every_guardrail_working(tmp_path: Path) -> None:
    # Given a machine with no AWS credentials or endpoint
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = f"{ROOT}:{ROOT / 'lambdas'}"
    summary = tmp_path / "demo.json"
    # When the demo runs
    with (tmp_path / "demo.out").open("w") as out:
        done = subprocess.run([sys.executable, "-m", "training.guardctl", "demo", "--speed",
                               "14400", "--summary", str(summary)], cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=400)
    shown = (tmp_path / "demo.out").read_text()
    # Then it exits 0 with all ten steps passed, narrated and tabled
    assert done.returncode == 0, shown[-4000:]
    assert "10 of 10 steps passed." in shown
    assert "[10/10] a spot interruption warning checkpoints" in shown
    report = json.loads(summary.read_text())
    assert [s["step"] for s in report["steps"] if s["ok"]] == list(range(1, 11))
    facts = report["facts"]
    # 2. the p4d's rate is over $5/h
    assert facts["p4d_rate_usd_per_hour"] > 5
    # 3.-4. progress in guardctl status; a second start refused, naming the live run
    assert facts["status_epoch"].endswith("/6")
    assert facts["second_start"]["exit"] == 3
    assert "already has a live training run" in facts["second_start"]["said"]
    # 5.-6. terminate blocked naming the newest checkpoint, then uploaded and terminated
    assert facts["terminate_blocked"]["exit"] == 3
    assert facts["terminate_blocked"]["names"].endswith("epoch-000006.npz")
    assert facts["terminate_blocked"]["state"] == "running"
    assert facts["terminate_upload"]["exit"] == 0
    assert facts["terminate_upload"]["in_s3"] == facts["terminate_upload"]["on_disk"] == 6
    assert facts["terminate_upload"]["state"] in ("shutting-down", "terminated")
    # 7. the g5's $10, $20 and 24 h warnings, once each, within a minute of their crossing
    g5 = {(a["rule"], a["threshold"]): a["late_seconds"] for a in facts["g5_alerts"]}
    assert sorted(g5) == [("cost", 10.0), ("cost", 20.0), ("uptime", 24.0)]
    assert all(0 <= late <= 60 for late in g5.values()), g5
    # 8. no warning after the g5 stopped (its $30 would have come 6 h later)
    assert facts["g5_alerts_after_stop"] == 0
    # 9. the idle instance stopped after its grace (15 min by default)
    idle = facts["idle"]
    waited = datetime.fromisoformat(idle["stopped_at"]) - datetime.fromisoformat(
        idle["grace_at"])
    assert idle["state"] == "stopped" and waited >= timedelta(minutes=15)
    # 10. a spot warning made the run save a checkpoint
    assert facts["spot"]["alert"] == "spot-interruption"
    assert len(facts["spot"]["checkpoint_epochs"]) == 1
