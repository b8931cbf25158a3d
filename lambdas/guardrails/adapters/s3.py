"""What S3 holds at a checkpoint's URI: its size and sha256, from head_object."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from guardrails.adapters.clients import client


@dataclass(frozen=True)
class StoredObject:
    size_bytes: int
    sha256: str | None  # hex; None when S3 has neither a full-object checksum nor metadata


def split_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.lstrip("/"):
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def head(uri: str) -> StoredObject:
    bucket, key = split_uri(uri)
    answer: dict[str, Any] = client("s3").head_object(Bucket=bucket, Key=key,
                                                      ChecksumMode="ENABLED")
    return StoredObject(int(answer["ContentLength"]), _sha256(answer))


def _sha256(answer: dict[str, Any]) -> str | None:
    checksum = str(answer.get("ChecksumSHA256") or "")
    # A multipart upload's checksum is of the parts ("...-N"): not the file's digest.
    if checksum and "-" not in checksum:
        return base64.b64decode(checksum).hex()
    metadata = answer.get("Metadata") or {}
    value = metadata.get("sha256")
    return str(value).lower() if value else None
