"""train_with_checkpoints.py, run for real: it learns, checkpoints every epoch, resumes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def train(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "training.train_with_checkpoints", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=env or {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


def losses(output: str) -> dict[int, float]:
    return {int(e): float(v) for e, v in re.findall(r"epoch (\d+)/\d+ loss ([0-9.]+)", output)}


def test_three_epochs_checkpoint_each_epoch_and_the_loss_goes_down(tmp_path: Path) -> None:
    done = train("--epochs", "3", "--output-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    seen = losses(done.stdout)
    assert list(seen) == [1, 2, 3]
    assert seen[1] > seen[2] > seen[3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch-000001.npz", "epoch-000002.npz", "epoch-000003.npz"]
    assert "guardrails are off" in done.stderr


def test_it_resumes_from_epoch_2_exactly_where_it_left_off(tmp_path: Path) -> None:
    first = train("--epochs", "3", "--output-dir", str(tmp_path))
    (tmp_path / "epoch-000003.npz").unlink()
    resumed = train("--epochs", "3", "--output-dir", str(tmp_path), "--resume",
                    "--", "--anything", "passes")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from epoch 2" in resumed.stdout
    assert "passing through: --anything passes" in resumed.stdout
    assert list(losses(resumed.stdout)) == [3]
    # The same data order and weights: epoch 3 ends where the uninterrupted run did
    assert losses(resumed.stdout)[3] == losses(first.stdout)[3]


def test_help_says_the_checkpoint_interval_defaults_to_every_epoch() -> None:
    done = train("--help")
    assert done.returncode == 0
    assert "default 1: every epoch" in " ".join(done.stdout.split())


def test_a_checkpoint_interval_of_2_saves_every_second_epoch_and_the_last(
    tmp_path: Path,
) -> None:
    done = train("--epochs", "5", "--checkpoint-interval", "2", "--output-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch-000002.npz", "epoch-000004.npz", "epoch-000005.npz"]
