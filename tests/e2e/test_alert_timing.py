"""Alert timing on the local clock: each predicted alert arrives within 60 simulated seconds
of its exact crossing, and exactly once (issue 6)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.e2e.test_local_mode import start_local, stop_local

LATENESS_LIMIT_SECONDS = 60


def test_predicted_alerts_arrive_within_a_minute_of_their_crossing_exactly_once(
    tmp_path: Path,
) -> None:
    local = start_local(tmp_path, speed=3600)  # an hour a second
    try:
        ec2 = local.aws("ec2")
        p4d = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                InstanceType="p4d.24xlarge")["Instances"][0]["InstanceId"]
        [uptime] = local.alerts_for(p4d, "uptime", wait=90)
    finally:
        assert stop_local(local) == 0
    alerts = [a for a in local.all_alerts() if a["instance_id"] == p4d]
    # Exactly once each: one rate warning, one alert per cost level, one at 24 h
    counts = Counter((a["rule"], a["threshold"]) for a in alerts)
    assert all(n == 1 for n in counts.values()), counts
    assert counts[("rate", 5.0)] == 1
    costs = sorted(a["threshold"] for a in alerts if a["rule"] == "cost")
    assert costs[:3] == [10.0, 20.0, 30.0] and len(costs) >= 40
    # Each predicted alert at most a minute after its exact crossing (never before it)
    for alert in alerts:
        figures = alert["figures"]
        if alert["rule"] == "cost":
            late_hours = (figures["accumulated_usd"] - alert["threshold"]) / (
                figures["rate_usd_per_hour"])
        elif alert["rule"] == "uptime":
            late_hours = figures["uptime_hours"] - alert["threshold"]
        else:
            continue
        errors = (tmp_path / "local.stderr").read_text()
        assert 0 <= late_hours * 3600 <= LATENESS_LIMIT_SECONDS, (alert, errors[-3000:])
    assert uptime["threshold"] == 24.0
