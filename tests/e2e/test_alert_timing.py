"""Alert timing on the local clock: each predicted alert arrives within 60 simulated seconds
of its exact crossing, and exactly once (issue 6)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from tests.e2e.test_local_mode import start_local, stop_local

LATENESS_LIMIT = timedelta(seconds=60)


def test_predicted_alerts_arrive_within_a_minute_of_their_crossing_exactly_once(
    tmp_path: Path,
) -> None:
    # Given local mode at two hours a second, and a p4d launched with boto3
    local = start_local(tmp_path, speed=3600)
    try:
        launched = local.launch("p4d.24xlarge")
        p4d, launch = launched["InstanceId"], launched["LaunchTime"]
        # When a simulated day passes
        [uptime] = local.alerts_for(p4d, "uptime", wait=120)
    finally:
        assert stop_local(local) == 0
    alerts = [a for a in local.all_alerts() if a["instance_id"] == p4d]
    # Then each alert comes once: the rate warning, every $10 level, and 24 h
    counts = Counter((a["rule"], a["threshold"]) for a in alerts)
    assert all(n == 1 for n in counts.values()), counts
    assert counts[("rate", 5.0)] == 1 and uptime["threshold"] == 24.0
    costs = sorted(a["threshold"] for a in alerts if a["rule"] == "cost")
    assert costs[:3] == [10.0, 20.0, 30.0] and len(costs) >= 40
    assert costs == [10.0 * n for n in range(1, len(costs) + 1)], "a level was skipped"
    # And each arrives within a minute after its exact crossing, counted from LaunchTime
    rate = uptime["figures"]["rate_usd_per_hour"]
    for alert in alerts:
        if alert["rule"] == "cost":
            crossing = launch + timedelta(hours=alert["threshold"] / rate)
        elif alert["rule"] == "uptime":
            crossing = launch + timedelta(hours=alert["threshold"])
        else:
            continue
        late = datetime.fromisoformat(alert["time"]) - crossing
        assert timedelta(0) <= late <= LATENESS_LIMIT, (alert, late)
