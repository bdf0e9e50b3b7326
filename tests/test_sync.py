"""Records to and from a shared object store, against moto's S3 server on loopback."""

import boto3
import pytest

from harness.cli import main
from harness.foundation.errors import ConfigError
from harness.results.store import append_record, iter_records
from harness.results.sync import parse_s3_url, pull, push
from tests.helpers.records import record


def rec(i, machine):
    return record(f"{machine}-{i}", model="bert-tiny", backend="torch", machine_id=machine,
                  created_at=f"2026-01-01T00:00:{i:02d}")


def test_two_machines_merge_through_the_store(tmp_path, s3_endpoint, aws_env):
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="bench")
    a, b = tmp_path / "a", tmp_path / "b"
    for i in range(3):
        append_record(rec(i, "machA"), a)
    for i in range(2):
        append_record(rec(i, "machB"), b)
    assert push("s3://bench/nightly", a, endpoint_url=s3_endpoint) == {"machA.jsonl": 3}
    assert push("s3://bench/nightly", b, endpoint_url=s3_endpoint) == {"machB.jsonl": 2}
    # pushing again adds nothing; a new local record is appended to the object, not replacing it
    assert push("s3://bench/nightly", a, endpoint_url=s3_endpoint) == {"machA.jsonl": 0}
    append_record(rec(3, "machA"), a)
    assert push("s3://bench/nightly", a, endpoint_url=s3_endpoint) == {"machA.jsonl": 1}
    # machine B pulls A's records; pulling twice duplicates nothing
    assert pull("s3://bench/nightly", b, endpoint_url=s3_endpoint) == {"machA.jsonl": 4, "machB.jsonl": 0}
    assert pull("s3://bench/nightly", b, endpoint_url=s3_endpoint) == {"machA.jsonl": 0, "machB.jsonl": 0}
    ids = sorted(r.record_id for r in iter_records(b, []))
    assert ids == ["machA-0", "machA-1", "machA-2", "machA-3", "machB-0", "machB-1"]


def test_cli_push_and_errors(tmp_path, s3_endpoint, aws_env, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(tmp_path))
    append_record(rec(0, "machC"), tmp_path)
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="cli")
    assert main(["results", "push", "s3://cli/x", "--endpoint-url", s3_endpoint]) == 0
    assert "uploaded 1 new record(s)" in capsys.readouterr().out
    assert main(["results", "push", "s3://missing-bucket/x", "--endpoint-url", s3_endpoint]) == 2
    err = capsys.readouterr().err
    assert "push to s3://missing-bucket/x failed" in err and err.count("\n") == 1
    assert main(["results", "push", "https://example.com/x"]) == 2
    assert "expected an s3://bucket/prefix URL" in capsys.readouterr().err


def test_parse_s3_url():
    assert parse_s3_url("s3://b/p/q/") == ("b", "p/q")
    assert parse_s3_url("s3://b") == ("b", "")
    with pytest.raises(ConfigError):
        parse_s3_url("/local/path")
