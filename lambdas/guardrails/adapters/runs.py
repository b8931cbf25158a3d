"""Runs, the instance LOCK and checkpoints in the table (one item collection per instance)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from guardrails.adapters.audit import audit_from_item
from guardrails.adapters.table import (
    TableClient,
    _plain,
    alert_key,
    condition_failed,
    instance_key,
    record_from_item,
)
from guardrails.constants import (
    AUDIT_SK_PREFIX,
    CHECKPOINT_SK_PREFIX,
    INSTANCE_PREFIX,
    LIVE_INDEX,
    LIVE_INDEX_PK,
    LIVE_INDEX_SK,
    LIVE_INDEX_VALUE,
    LOCK_SK,
    META_SK,
    PK,
    RUN_SK_PREFIX,
    SK,
    SNOOZE_SK,
    STOP_PENDING_SK,
)
from guardrails.domain.audit import Audit
from guardrails.domain.instance import InstanceRecord
from guardrails.domain.runs import (
    QUEUED,
    RUNNING,
    STALE,
    Checkpoint,
    Lock,
    LockHeld,
    Run,
    RunNotFound,
    RunNotLive,
)


@dataclass(frozen=True)
class StopPending:
    """A stop that waits for the live run's checkpoint (issue 5)."""

    rule: str
    requested_at: datetime
    key: str = ""  # the grace key of the stop it belongs to


@dataclass
class Collection:
    """Everything the table holds about one instance, from one Query."""

    instance_id: str
    record: InstanceRecord | None = None
    lock: Lock | None = None
    runs: list[Run] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    protected: bool | None = None
    audits: list[Audit] = field(default_factory=list)
    snooze_until: datetime | None = None
    stop_pending: StopPending | None = None

    def run(self, run_id: str) -> Run | None:
        return next((r for r in self.runs if r.run_id == run_id), None)


def _pk(instance_id: str) -> dict[str, str]:
    return {"S": f"{INSTANCE_PREFIX}{instance_id}"}


def run_key(instance_id: str, run_id: str) -> dict[str, Any]:
    return {PK: _pk(instance_id), SK: {"S": f"{RUN_SK_PREFIX}{run_id}"}}


def lock_key(instance_id: str) -> dict[str, Any]:
    return {PK: _pk(instance_id), SK: {"S": LOCK_SK}}


def checkpoint_key(instance_id: str, run_id: str, epoch: int) -> dict[str, Any]:
    return {PK: _pk(instance_id), SK: {"S": f"{CHECKPOINT_SK_PREFIX}{run_id}#{epoch:06d}"}}


class RunStore(TableClient):

    # ---- reads ------------------------------------------------------------------------
    def collection(self, instance_id: str) -> Collection:
        found = Collection(instance_id)
        pages = self._ddb.get_paginator("query").paginate(
            TableName=self.name, ConsistentRead=True,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": PK},
            ExpressionAttributeValues={":pk": _pk(instance_id)})
        for page in pages:
            for raw in page.get("Items", []):
                _add(found, _plain(raw))
        return found

    def tracked_instances(self) -> Iterator[Collection]:
        """META and LOCK of every instance the table knows (one Scan, paginated)."""
        by_id: dict[str, Collection] = {}
        pages = self._ddb.get_paginator("scan").paginate(
            TableName=self.name,
            FilterExpression="#sk IN (:meta, :lock)",
            ExpressionAttributeNames={"#sk": SK},
            ExpressionAttributeValues={":meta": {"S": META_SK}, ":lock": {"S": LOCK_SK}})
        for page in pages:
            for raw in page.get("Items", []):
                item = _plain(raw)
                iid = str(item[PK])[len(INSTANCE_PREFIX):]
                _add(by_id.setdefault(iid, Collection(iid)), item)
        yield from by_id.values()

    def run_and_record(self, instance_id: str, run_id: str
                       ) -> tuple[Run | None, InstanceRecord | None]:
        """The RUN and the META of an instance, by key (cheaper than the whole collection)."""
        answer = self._ddb.batch_get_item(RequestItems={self.name: {
            "Keys": [run_key(instance_id, run_id), instance_key(instance_id)],
            "ConsistentRead": True}})
        found = Collection(instance_id)
        for raw in answer.get("Responses", {}).get(self.name, []):
            _add(found, _plain(raw))
        return found.run(run_id), found.record

    def runs_by_id(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Run]:
        found: dict[tuple[str, str], Run] = {}
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {self.name: {
                "Keys": [run_key(i, r) for i, r in keys[start:start + 100]]}}
            while request:
                answer = self._ddb.batch_get_item(RequestItems=request)
                for raw in answer.get("Responses", {}).get(self.name, []):
                    run = _run(_plain(raw))
                    found[(run.instance_id, run.run_id)] = run
                request = answer.get("UnprocessedKeys") or {}
        return found

    # ---- writes -----------------------------------------------------------------------
    def start(self, run: Run) -> None:
        """Take the LOCK and record the run, atomically. LockHeld if a run is live."""
        try:
            self._ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.name, "Item": _lock_item(run),
                         "ConditionExpression": f"attribute_not_exists({PK})"}},
                {"Put": {"TableName": self.name, "Item": _run_item(run),
                         "ConditionExpression": f"attribute_not_exists({PK})"}},
            ])
        except ClientError as error:
            if _cancelled(error):
                raise LockHeld(run.instance_id, self.lock(run.instance_id)) from error
            raise

    def enqueue(self, run: Run) -> None:
        self._ddb.put_item(TableName=self.name, Item=_run_item(run),
                           ConditionExpression=f"attribute_not_exists({PK})")

    def lock(self, instance_id: str) -> Lock | None:
        answer = self._ddb.get_item(TableName=self.name, Key=lock_key(instance_id),
                                    ConsistentRead=True)
        item = answer.get("Item")
        return _lock(_plain(item)) if item else None

    def heartbeat(self, instance_id: str, run_id: str, epoch: int, step: int,
                  metrics: Mapping[str, float], at: datetime) -> None:
        """Progress on the RUN, and the time on the LOCK (which the stale check reads)."""
        try:
            self._ddb.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.name, "Key": run_key(instance_id, run_id),
                    "UpdateExpression": "SET #hb = :at, #epoch = :epoch, #step = :step, "
                                        "#metrics = :metrics",
                    "ConditionExpression": "#status = :running",
                    # Several of these names are DynamoDB reserved words.
                    "ExpressionAttributeNames": {"#status": "status", "#hb": "heartbeat_at",
                                                 "#epoch": "epoch", "#step": "step",
                                                 "#metrics": "metrics"},
                    "ExpressionAttributeValues": {
                        ":at": {"S": at.isoformat()}, ":epoch": {"N": str(epoch)},
                        ":step": {"N": str(step)}, ":running": {"S": RUNNING},
                        ":metrics": {"M": {k: {"N": _number(v)} for k, v in metrics.items()}},
                    }}},
                {"Update": {
                    "TableName": self.name, "Key": lock_key(instance_id),
                    "UpdateExpression": "SET #beat = :at",
                    "ConditionExpression": "#run = :run",
                    "ExpressionAttributeNames": {"#beat": LIVE_INDEX_SK, "#run": "run_id"},
                    "ExpressionAttributeValues": {":at": {"S": at.isoformat()},
                                                  ":run": {"S": run_id}}}},
            ])
        except ClientError as error:
            if _cancelled(error):
                raise self._not_live(instance_id, run_id) from error
            raise

    def stale_locks(self, heard_before: datetime) -> list[tuple[str, Lock]]:
        """(instance, lock) of every live run whose last heartbeat is older than the cutoff."""
        found = []
        pages = self._ddb.get_paginator("query").paginate(
            TableName=self.name, IndexName=LIVE_INDEX,
            KeyConditionExpression="#live = :live AND #beat < :cutoff",
            ExpressionAttributeNames={"#live": LIVE_INDEX_PK, "#beat": LIVE_INDEX_SK},
            ExpressionAttributeValues={":live": {"S": LIVE_INDEX_VALUE},
                                       ":cutoff": {"S": heard_before.isoformat()}})
        for page in pages:
            for raw in page.get("Items", []):
                item = _plain(raw)
                found.append((str(item["instance_id"]), _lock(item)))
        return found

    def release_stale(self, instance_id: str, lock: Lock, at: datetime) -> bool:
        """Mark the run stale and free the LOCK, if it still holds it with the heartbeat the
        stale query saw. False if it moved on (finished, or heartbeated meanwhile)."""
        run_id = lock.run_id
        seen = (lock.heartbeat_at or lock.acquired_at).isoformat()
        try:
            self._ddb.transact_write_items(TransactItems=[
                _status_change(self.name, instance_id, run_id, RUNNING, STALE, "ended_at", at),
                _lock_release(self.name, instance_id, run_id, heartbeat=seen),
            ])
        except ClientError as error:
            if _cancelled(error):
                return False
            raise
        return True

    def unclaim(self, instance_id: str, rule: str, key: str) -> None:
        self._ddb.delete_item(TableName=self.name, Key=alert_key(instance_id, rule, key))

    def claim_once(self, instance_id: str, rule: str, key: str, at: datetime) -> bool:
        """An alert item for (rule, key) that only the first caller creates."""
        return self._put_if_absent({**alert_key(instance_id, rule, key),
                                    "rule": {"S": rule}, "claimed_at": {"S": at.isoformat()},
                                    "published": {"BOOL": True}})

    def put_checkpoint(self, ckpt: Checkpoint) -> None:
        """Record a checkpoint of a run that exists; again with its s3_uri once uploaded."""
        item: dict[str, Any] = {
            **checkpoint_key(ckpt.instance_id, ckpt.run_id, ckpt.epoch),
            "run_id": {"S": ckpt.run_id}, "epoch": {"N": str(ckpt.epoch)},
            "path": {"S": ckpt.path}, "size_bytes": {"N": str(ckpt.size_bytes)},
            "sha256": {"S": ckpt.sha256}, "recorded_at": {"S": ckpt.recorded_at.isoformat()},
        }
        if ckpt.s3_uri:
            item["s3_uri"] = {"S": ckpt.s3_uri}
        try:
            self._ddb.transact_write_items(TransactItems=[
                {"ConditionCheck": {"TableName": self.name,
                                    "Key": run_key(ckpt.instance_id, ckpt.run_id),
                                    "ConditionExpression": f"attribute_exists({PK})"}},
                {"Put": {"TableName": self.name, "Item": item}},
            ])
        except ClientError as error:
            if _cancelled(error):
                raise RunNotFound(f"run {ckpt.run_id} is not registered on "
                                  f"{ckpt.instance_id}", "start the run first") from error
            raise

    def mark_uploaded(self, instance_id: str, run_id: str, epoch: int, sha256: str,
                      s3_uri: str) -> bool:
        """Give a recorded checkpoint its verified S3 copy. False if the record is gone or
        now describes another file (its sha256 changed)."""
        try:
            self._ddb.update_item(
                TableName=self.name, Key=checkpoint_key(instance_id, run_id, epoch),
                UpdateExpression="SET #uri = :uri",
                ConditionExpression="attribute_exists(#pk) AND #sha = :sha",
                ExpressionAttributeNames={"#uri": "s3_uri", "#pk": PK, "#sha": "sha256"},
                ExpressionAttributeValues={":uri": {"S": s3_uri}, ":sha": {"S": sha256}})
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def finish(self, instance_id: str, run_id: str, status: str, at: datetime) -> None:
        """End a live run and release the LOCK together; a queued run is just withdrawn."""
        try:
            self._ddb.transact_write_items(TransactItems=[
                _status_change(self.name, instance_id, run_id, RUNNING, status, "ended_at", at),
                _lock_release(self.name, instance_id, run_id),
            ])
            return
        except ClientError as error:
            if not _cancelled(error):
                raise
        try:
            self._ddb.update_item(**_status_change(
                self.name, instance_id, run_id, QUEUED, status, "ended_at", at)["Update"])
        except ClientError as error:
            if condition_failed(error):
                raise self._not_live(instance_id, run_id) from error
            raise

    def promote(self, run: Run, at: datetime) -> bool:
        """Give the free LOCK to a queued run. False if someone else took it first."""
        lock = replace(run, status=RUNNING, started_at=at)
        try:
            self._ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.name, "Item": _lock_item(lock),
                         "ConditionExpression": f"attribute_not_exists({PK})"}},
                _status_change(self.name, run.instance_id, run.run_id, QUEUED, RUNNING,
                               "started_at", at),
            ])
        except ClientError as error:
            if _cancelled(error):
                return False
            raise
        return True

    def claimed_at(self, instance_id: str, rule: str, key: str) -> datetime | None:
        """When the alert (rule, key) was first claimed, or None if it never was."""
        answer = self._ddb.get_item(TableName=self.name, Key=alert_key(instance_id, rule, key),
                                    ConsistentRead=True)
        item = answer.get("Item")
        return datetime.fromisoformat(item["claimed_at"]["S"]) if item else None

    def set_snooze(self, instance_id: str, until: datetime, by: str, reason: str,
                   at: datetime) -> None:
        self._ddb.put_item(TableName=self.name, Item={
            PK: _pk(instance_id), SK: {"S": SNOOZE_SK}, "until": {"S": until.isoformat()},
            "by": {"S": by}, "reason": {"S": reason}, "at": {"S": at.isoformat()}})

    def set_stop_pending(self, instance_id: str, rule: str, key: str, at: datetime) -> bool:
        """Note that this stop (its grace key) waits for a checkpoint. False if it already
        does; a pending note of another stop (an earlier start, snooze or mode) is replaced."""
        try:
            self._ddb.put_item(
                TableName=self.name,
                Item={PK: _pk(instance_id), SK: {"S": STOP_PENDING_SK}, "rule": {"S": rule},
                      "key": {"S": key}, "requested_at": {"S": at.isoformat()}},
                ConditionExpression="attribute_not_exists(#pk) OR #key <> :key",
                ExpressionAttributeNames={"#pk": PK, "#key": "key"},
                ExpressionAttributeValues={":key": {"S": key}})
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def clear_stop_pending(self, instance_id: str) -> None:
        self._ddb.delete_item(TableName=self.name,
                              Key={PK: _pk(instance_id), SK: {"S": STOP_PENDING_SK}})

    def set_protected(self, instance_id: str, protected: bool) -> None:
        """Remember the protection flag on META (only if the instance is tracked)."""
        try:
            self._ddb.update_item(
                TableName=self.name, Key=instance_key(instance_id),
                UpdateExpression="SET #p = :p", ConditionExpression=f"attribute_exists({PK})",
                ExpressionAttributeNames={"#p": "protected"},
                ExpressionAttributeValues={":p": {"BOOL": protected}})
        except ClientError as error:
            if not condition_failed(error):
                raise

    def _not_live(self, instance_id: str, run_id: str) -> Exception:
        answer = self._ddb.get_item(TableName=self.name, Key=run_key(instance_id, run_id),
                                    ConsistentRead=True)
        if "Item" not in answer:
            return RunNotFound(f"run {run_id} is not registered on {instance_id}",
                               "start the run first (POST /instances/{id}/runs)")
        status = _plain(answer["Item"]).get("status")
        return RunNotLive(f"run {run_id} on {instance_id} is {status}, not running",
                          "a stale or finished run cannot be updated; start a new run")


# ---- items <-> domain ---------------------------------------------------------------------
def _add(found: Collection, item: Mapping[str, Any]) -> None:
    sk = str(item[SK])
    if sk == META_SK:
        found.record = record_from_item(item)
        found.protected = item.get("protected")
    elif sk == LOCK_SK:
        found.lock = _lock(item)
    elif sk.startswith(RUN_SK_PREFIX):
        found.runs.append(_run(item))
    elif sk.startswith(CHECKPOINT_SK_PREFIX):
        found.checkpoints.append(_checkpoint(found.instance_id, item))
    elif sk.startswith(AUDIT_SK_PREFIX):
        found.audits.append(audit_from_item(found.instance_id, item))
    elif sk == SNOOZE_SK:
        found.snooze_until = datetime.fromisoformat(str(item["until"]))
    elif sk == STOP_PENDING_SK:
        found.stop_pending = StopPending(str(item["rule"]),
                                         datetime.fromisoformat(str(item["requested_at"])),
                                         str(item.get("key", "")))


def _status_change(table: str, instance_id: str, run_id: str, was: str, becomes: str,
                   stamp: str, at: datetime) -> dict[str, Any]:
    """A transaction Update: the run goes from `was` to `becomes`, stamping `stamp` = at."""
    return {"Update": {
        "TableName": table, "Key": run_key(instance_id, run_id),
        "UpdateExpression": "SET #status = :becomes, #stamp = :at",
        "ConditionExpression": "#status = :was",
        "ExpressionAttributeNames": {"#status": "status", "#stamp": stamp},
        "ExpressionAttributeValues": {":becomes": {"S": becomes}, ":was": {"S": was},
                                      ":at": {"S": at.isoformat()}}}}


def _lock_release(table: str, instance_id: str, run_id: str,
                  heartbeat: str | None = None) -> dict[str, Any]:
    """A transaction Delete of the LOCK, only while it names this run (and, for a stale
    release, still carries the heartbeat the stale query saw)."""
    condition, names = "#run = :run", {"#run": "run_id"}
    values: dict[str, Any] = {":run": {"S": run_id}}
    if heartbeat is not None:
        condition += " AND #beat = :seen"
        names["#beat"] = LIVE_INDEX_SK
        values[":seen"] = {"S": heartbeat}
    return {"Delete": {"TableName": table, "Key": lock_key(instance_id),
                       "ConditionExpression": condition, "ExpressionAttributeNames": names,
                       "ExpressionAttributeValues": values}}


def _lock_item(run: Run) -> dict[str, Any]:
    acquired = (run.started_at or run.created_at).isoformat()
    return {**lock_key(run.instance_id), "run_id": {"S": run.run_id},
            "instance_id": {"S": run.instance_id}, "pid": {"N": str(run.pid)},
            "acquired_at": {"S": acquired},
            # The live-runs index: every LOCK, by its last heartbeat (the start counts as one).
            LIVE_INDEX_PK: {"S": LIVE_INDEX_VALUE}, LIVE_INDEX_SK: {"S": acquired}}


def _run_item(run: Run) -> dict[str, Any]:
    item: dict[str, Any] = {
        **run_key(run.instance_id, run.run_id),
        "instance_id": {"S": run.instance_id}, "run_id": {"S": run.run_id},
        "pid": {"N": str(run.pid)}, "command": {"S": run.command},
        "status": {"S": run.status}, "created_at": {"S": run.created_at.isoformat()},
        "total_epochs": {"N": str(run.total_epochs)},
        "checkpoint_interval": {"N": str(run.checkpoint_interval)},
        "epoch": {"N": str(run.epoch)}, "step": {"N": str(run.step)},
    }
    if run.started_at:
        item["started_at"] = {"S": run.started_at.isoformat()}
    if run.budget_usd is not None:
        item["budget_usd"] = {"N": str(run.budget_usd)}
    return item


def _lock(item: Mapping[str, Any]) -> Lock:
    beat = item.get(LIVE_INDEX_SK)
    return Lock(str(item["run_id"]), int(item["pid"]),
                datetime.fromisoformat(str(item["acquired_at"])),
                datetime.fromisoformat(str(beat)) if beat else None)


def _run(item: Mapping[str, Any]) -> Run:
    def when(name: str) -> datetime | None:
        value = item.get(name)
        return datetime.fromisoformat(str(value)) if value else None

    return Run(
        instance_id=str(item["instance_id"]), run_id=str(item["run_id"]), pid=int(item["pid"]),
        command=str(item["command"]), status=str(item["status"]),
        created_at=datetime.fromisoformat(str(item["created_at"])),
        total_epochs=int(item["total_epochs"]),
        checkpoint_interval=int(item.get("checkpoint_interval") or 1),
        started_at=when("started_at"), heartbeat_at=when("heartbeat_at"),
        epoch=int(item.get("epoch") or 0), step=int(item.get("step") or 0),
        metrics={k: float(v) for k, v in (item.get("metrics") or {}).items()},
        ended_at=when("ended_at"),
        budget_usd=Decimal(str(item["budget_usd"])) if item.get("budget_usd") else None,
    )


def _checkpoint(instance_id: str, item: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint(
        instance_id=instance_id, run_id=str(item["run_id"]), epoch=int(item["epoch"]),
        path=str(item["path"]), size_bytes=int(item["size_bytes"]), sha256=str(item["sha256"]),
        recorded_at=datetime.fromisoformat(str(item["recorded_at"])),
        s3_uri=str(item["s3_uri"]) if item.get("s3_uri") else None,
    )


def _number(value: float) -> str:
    # DynamoDB numbers stop at 1E-130; a metric that small is zero for any reader.
    if abs(value) < 1e-100:
        return "0"
    return format(Decimal(repr(float(value))).normalize(), "f")


def _cancelled(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    return code in ("TransactionCanceledException", "ConditionalCheckFailedException")
