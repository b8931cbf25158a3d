"""Train a small real model (a numpy MLP on a synthetic dataset), checkpointing as it goes.

With GUARDRAILS_API (or --endpoint) set, the run registers with the guardrails, heartbeats,
and records every checkpoint (and its S3 copy with --bucket). Without it, training and
checkpoints stay local and the guardrails say once that they are off.

Arguments after `--` are passed through untouched (available as `passthrough`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.agent import (
    ENV_INSTANCE_ID,
    HEARTBEAT_SECONDS,
    GuardedRun,
    GuardrailsRefused,
    instance_id_from_imds,
)

CHECKPOINT = re.compile(r"^epoch-(\d{6})\.npz$")


def make_data(seed: int, n: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals: a task a linear model cannot do, an MLP can."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1, n // 2)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, 0.02, (n, 2))
    y = np.concatenate([np.zeros(n // 2), np.ones(n // 2)])
    return x.astype(np.float64), y.astype(np.float64)


def init_params(seed: int, hidden: int = 32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    return {"w1": rng.normal(0, 1, (2, hidden)), "b1": np.zeros(hidden),
            "w2": rng.normal(0, 1 / np.sqrt(hidden), (hidden, 1)), "b2": np.zeros(1)}


def loss_and_grads(params: dict[str, np.ndarray], x: np.ndarray,
                   y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    h = np.tanh(x @ params["w1"] + params["b1"])
    p = 1 / (1 + np.exp(-(h @ params["w2"] + params["b2"]).ravel()))
    eps = 1e-9
    loss = float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
    dz = (p - y)[:, None] / len(y)
    dh = (dz @ params["w2"].T) * (1 - h ** 2)
    return loss, {"w2": h.T @ dz, "b2": dz.sum(0), "w1": x.T @ dh, "b1": dh.sum(0)}


def train_epoch(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                rng: np.random.Generator, lr: float = 1.0, batch: int = 64) -> float:
    order = rng.permutation(len(y))
    for start in range(0, len(y), batch):
        idx = order[start:start + batch]
        _, grads = loss_and_grads(params, x[idx], y[idx])
        for name, grad in grads.items():
            params[name] -= lr * grad
    return loss_and_grads(params, x, y)[0]


def checkpoint_path(output_dir: Path, epoch: int) -> Path:
    return output_dir / f"epoch-{epoch:06d}.npz"


def save(output_dir: Path, epoch: int, params: dict[str, np.ndarray],
         rng: np.random.Generator) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(output_dir, epoch)
    partial = path.with_suffix(".tmp.npz")
    arrays: dict[str, Any] = {"epoch": epoch, "rng": json.dumps(rng.bit_generator.state),
                              **params}
    np.savez(partial, **arrays)
    partial.replace(path)  # never leave a half-written checkpoint under the real name
    return path


def newest_checkpoint(output_dir: Path) -> Path | None:
    found = sorted(p for p in output_dir.glob("epoch-*.npz") if CHECKPOINT.match(p.name))
    return found[-1] if found else None


def fetch_newest_from_s3(s3: Any, bucket: str, instance_id: str, output_dir: Path) -> Path | None:
    """Download the newest epoch-*.npz this instance uploaded (any run) into output_dir."""
    newest: tuple[str, str] | None = None  # (file name, key): names sort by epoch
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                             Prefix=f"{instance_id}/"):
        for item in page.get("Contents", []):
            key = str(item["Key"])
            name = key.rsplit("/", 1)[-1]
            if CHECKPOINT.match(name) and (newest is None or name > newest[0]):
                newest = (name, key)
    if newest is None:
        return None
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / newest[0]
    s3.download_file(bucket, newest[1], str(target))
    return target


def own_instance_id() -> str | None:
    """This instance's id from IMDSv2, or None off EC2."""
    try:
        return instance_id_from_imds(timeout=1.0)
    except OSError:
        return None


def load(path: Path) -> tuple[int, dict[str, np.ndarray], np.random.Generator]:
    with np.load(path) as data:
        params = {k: data[k] for k in ("w1", "b1", "w2", "b2")}
        rng = np.random.default_rng()
        rng.bit_generator.state = eval(str(data["rng"]), {"__builtins__": {}})
        return int(data["epoch"]), params, rng


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train_with_checkpoints.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10, help="total epochs to train (default 10)")
    p.add_argument("--checkpoint-interval", type=int, default=1, metavar="N",
                   help="save a checkpoint every N epochs (default 1: every epoch)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in --output-dir, or else the "
                        "newest this instance uploaded to --bucket")
    p.add_argument("--output-dir", type=Path, default=Path("checkpoints"),
                   help="where checkpoints go (default ./checkpoints)")
    p.add_argument("--seed", type=int, default=0, help="data and init seed (default 0)")
    p.add_argument("--epoch-seconds", type=float, default=0.0, metavar="S",
                   help="pause S seconds after each epoch, to watch progress (default 0)")
    p.add_argument("--endpoint", help="guardrails API (default: $GUARDRAILS_API)")
    p.add_argument("--bucket", default=os.environ.get("GUARDRAILS_BUCKET"),
                   help="upload checkpoints to this S3 bucket (default: $GUARDRAILS_BUCKET)")
    p.add_argument("--budget-usd", type=float, metavar="USD",
                   help="alert once if the run is forecast to cost more than this")
    p.add_argument("--heartbeat-seconds", type=float, default=HEARTBEAT_SECONDS, metavar="S",
                   help="report progress every S seconds (default 180; guardctl status "
                        "shows the epoch of the latest report)")
    p.add_argument("--queue", action="store_true",
                   help="if a run is live on this instance, wait for it instead of failing")
    p.add_argument("--no-guard", action="store_true",
                   help="train even if the guardrails API cannot be reached")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in args_list:
        cut = args_list.index("--")
        args_list, passthrough = args_list[:cut], args_list[cut + 1:]
    args = parser().parse_args(args_list)
    if args.epochs < 1 or args.checkpoint_interval < 1:
        parser().error("--epochs and --checkpoint-interval must be at least 1")
    if args.epoch_seconds < 0 or args.heartbeat_seconds <= 0:
        parser().error("--epoch-seconds must not be negative, --heartbeat-seconds positive")
    x, y = make_data(args.seed)
    start, params, rng = 0, init_params(args.seed), np.random.default_rng(args.seed + 2)
    if args.resume:
        newest = newest_checkpoint(args.output_dir)
        instance_id = os.environ.get(ENV_INSTANCE_ID)
        if newest is None and args.bucket and not instance_id:
            instance_id = own_instance_id()
        if newest is None and args.bucket and instance_id:
            import boto3

            newest = fetch_newest_from_s3(boto3.client("s3"), args.bucket, instance_id,
                                          args.output_dir)
            if newest is not None:
                print(f"fetched {newest.name} from s3://{args.bucket}/{instance_id}/")
        if newest is None:
            print(f"no checkpoint in {args.output_dir}"
                  + (f" or s3://{args.bucket}/" if args.bucket else "")
                  + "; starting from scratch")
        else:
            start, params, rng = load(newest)
            print(f"resumed from epoch {start} ({newest})")
    if passthrough:
        print(f"passing through: {' '.join(passthrough)}")
    state: dict[str, Any] = {"epoch": start}

    def save_now() -> tuple[Path, int]:
        return save(args.output_dir, state["epoch"], params, rng), state["epoch"]

    try:
        with GuardedRun(total_epochs=args.epochs, checkpoint_interval=args.checkpoint_interval,
                        endpoint=args.endpoint, bucket=args.bucket, queue=args.queue,
                        no_guard=args.no_guard, save=save_now,
                        budget_usd=args.budget_usd,
                        heartbeat_seconds=args.heartbeat_seconds) as run:
            for epoch in range(start + 1, args.epochs + 1):
                loss = train_epoch(params, x, y, rng)
                state["epoch"] = epoch
                print(f"epoch {epoch}/{args.epochs} loss {loss:.4f}", flush=True)
                run.progress(epoch, 0, loss=loss)
                if epoch % args.checkpoint_interval == 0 or epoch == args.epochs:
                    run.checkpoint(save(args.output_dir, epoch, params, rng), epoch)
                time.sleep(args.epoch_seconds)
    except GuardrailsRefused as refused:
        print(f"guardrails: {refused}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
