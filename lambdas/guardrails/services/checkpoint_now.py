"""Ask an instance, over SSM, to save its work now: SIGUSR1 to the live run's agent, which
checkpoints and uploads, and `aws s3 cp` of checkpoints that are only on disk. Used when a
spot interruption warning arrives, and before an enforced stop."""

from __future__ import annotations

from guardrails.adapters import ssm
from guardrails.domain.runs import Checkpoint, Lock, checkpoint_s3_uri

SIGNAL_TIMEOUT_SECONDS = 60
UPLOAD_TIMEOUT_SECONDS = 600


def checkpoint_now(instance_id: str, lock: Lock | None, pending: list[Checkpoint],
                   bucket: str | None, why: str) -> list[str]:
    """What was asked, in words. SSM errors propagate (the caller decides)."""
    if not ssm.managed(instance_id):
        return ["could not reach it over SSM (no agent online), so nothing could be saved "
                "from here"]
    asked = []
    if lock is not None:
        ssm.send(instance_id, [ssm.checkpoint_signal_command(lock.pid)],
                 f"training guardrails: checkpoint now ({why})", SIGNAL_TIMEOUT_SECONDS)
        asked.append(f"asked run {lock.run_id} (pid {lock.pid}) to save and upload a "
                     "checkpoint now (SIGUSR1)")
    if pending and bucket:
        copies = [(c.path, checkpoint_s3_uri(bucket, instance_id, c.run_id, c.path), c.sha256)
                  for c in pending]
        ssm.send(instance_id, ssm.upload_commands(copies),
                 f"training guardrails: upload checkpoints ({why})", UPLOAD_TIMEOUT_SECONDS)
        asked.append(f"started copying {len(copies)} checkpoint(s) only on the instance to "
                     "S3 (unverified: they stay listed as not in S3)")
    return asked
