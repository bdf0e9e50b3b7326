"""Move run records to and from a shared object store (S3 or anything speaking its API).

Records are append-only and carry a unique record_id, so pushing and pulling are merges, never
overwrites of someone else's data:
  push: for each local results/runs/<machine>.jsonl, upload the lines the object does not have yet
        (the object becomes the union; its existing lines are kept in their order).
  pull: for each object under PREFIX/runs/, append to the local file of the same name the records
        whose record_id is not in the local store yet.
The endpoint comes from --endpoint-url or boto3's own configuration (AWS_ENDPOINT_URL_S3, profiles).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

from harness.contracts import RunRecord
from harness.foundation.errors import ConfigError, HarnessError

from .store import append_line, iter_records, runs_dir


def parse_s3_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(f"expected an s3://bucket/prefix URL, got {url!r}")
    return parsed.netloc, parsed.path.strip("/")


def _client(endpoint_url: str | None):
    import boto3  # only the sync commands need it

    return boto3.client("s3", endpoint_url=endpoint_url)


def _key(prefix: str, name: str) -> str:
    return f"{prefix}/runs/{name}" if prefix else f"runs/{name}"


def _record_id(line: str) -> str | None:
    """The record id of a stored line (of any schema version), or None when the line is not a record."""
    try:
        return RunRecord.peek_id(json.loads(line))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _ids(lines) -> set:
    return {rid for rid in map(_record_id, lines) if rid is not None}


def _s3_errors():
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def push(url: str, root=None, endpoint_url: str | None = None) -> dict:
    """Upload local records missing from the store; returns {file: records added}."""
    bucket, prefix = parse_s3_url(url)
    s3 = _client(endpoint_url)
    added = {}
    try:
        for path in sorted(runs_dir(root).glob("*.jsonl")):
            local = [ln for ln in path.read_text().splitlines() if ln.strip()]
            local_good = [ln for ln in local if _record_id(ln)]  # skip a truncated last line
            key = _key(prefix, path.name)
            try:
                remote = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
            except s3.exceptions.NoSuchKey:
                remote = []
            have = _ids(remote)
            new = [ln for ln in local_good if _record_id(ln) not in have]
            if new:
                body = "\n".join([*remote, *new]) + "\n"
                s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
            added[path.name] = len(new)
    except _s3_errors() as exc:
        raise HarnessError(f"push to {url} failed: {exc}") from None
    return added


def pull(url: str, root=None, endpoint_url: str | None = None) -> dict:
    """Append remote records missing locally; returns {file: records added}."""
    bucket, prefix = parse_s3_url(url)
    s3 = _client(endpoint_url)
    have = {r.record_id for r in iter_records(root, [])}
    added = {}
    try:
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=_key(prefix, "")):
            for obj in page.get("Contents", []):
                name = Path(obj["Key"]).name
                if not name.endswith(".jsonl"):
                    continue
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
                count = 0
                for line in body.splitlines():
                    rid = _record_id(line)
                    if rid is None or rid in have:
                        continue
                    append_line(runs_dir(root) / name, (line.strip() + "\n").encode())  # the line as written
                    have.add(rid)
                    count += 1
                added[name] = count
    except _s3_errors() as exc:
        raise HarnessError(f"pull from {url} failed: {exc}") from None
    return added
