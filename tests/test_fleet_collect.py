"""`harness fleet collect`: three instance types' machines push to moto's S3 server on loopback; one
merged cost report comes back, with what the fleet run cost (hand-computed)."""

from __future__ import annotations

import csv
import datetime as dt
import json

import boto3
import pytest

from harness.cli import main
from harness.contracts import SubmittedJob
from harness.pricing import load_price_book
from harness.results.store import append_record
from harness.results.sync import push
from harness.workflows.fleet import submit
from harness.workflows.fleet.selfcost import (
    CSV_COLUMNS,
    Span,
    price_spans,
    record_usage_fields,
    spans_from_batch,
    spans_from_records,
)
from tests.helpers.records import record as make

BOOK = load_price_book(snapshot_dir=None)  # the bundled snapshot: c7a.large $0.10264/h, c7i.xlarge $0.1785/h,
T0 = dt.datetime(2026, 11, 30, 2, 30, tzinfo=dt.timezone.utc)  # c7g.xlarge $0.1445/h in us-east-2


def record(rid, instance, machine, minutes, thr=20.0, p99=50.0, backend="onnxruntime"):
    """A run record as the runner writes it (the fields the cost report and the self-cost read)."""
    return make(rid, instance=instance, machine_id=machine, thr=thr, p99=p99, backend=backend, n=120,
                config_hash=f"{backend}-{instance}", created_at=(T0 + dt.timedelta(minutes=minutes)).isoformat())


# machine -> (instance type, minutes after T0 at which it wrote a record)
FLEET = {
    "m-c7a-1": ("c7a.large", [5, 20, 35]),        # 30 min
    "m-c7i-1": ("c7i.xlarge", [10, 25]),           # 15 min
    "m-c7i-2": ("c7i.xlarge", [12, 27]),           # 15 min
    "m-c7g-1": ("c7g.xlarge", [40]),               # one record: the 60 s minimum
}


def push_fleet(tmp_path, url, endpoint):
    for machine, (instance, minutes) in FLEET.items():
        root = tmp_path / machine
        for k, m in enumerate(minutes):
            append_record(record(f"{machine}-{k}", instance, machine, m, thr=10.0 + k), root)
        push(url, root, endpoint_url=endpoint)


def read_csv(path):
    return list(csv.DictReader(path.read_text().splitlines()))


def test_three_instance_types_collect_into_one_report(tmp_path, s3_endpoint, aws_env, capsys):
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="fleet")
    push_fleet(tmp_path, "s3://fleet/nightly/2026-11-30", s3_endpoint)
    out, into = tmp_path / "report", tmp_path / "merged"
    code = main(["fleet", "collect", "--results", "s3://fleet/nightly/2026-11-30", "--endpoint-url", s3_endpoint,
                 "--out", str(out), "--into", str(into), "--region", "us-east-2", "--snapshot-dir", str(tmp_path / "none")])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    for name in ("cost.md", "cost.html", "cost.csv", "fleet-cost.md", "fleet-cost.csv"):
        assert (out / name).is_file() and str(out / name) in printed
    assert sorted(p.name for p in (into / "runs").glob("*.jsonl")) == sorted(f"{m}.jsonl" for m in FLEET)
    lines = (out / "cost.csv").read_text().splitlines()
    cost = list(csv.DictReader(lines))
    measured = {r["instance"] for r in cost if r["measured_or_reference"] == "measured"}
    assert measured == {"c7a.large", "c7i.xlarge", "c7g.xlarge"}
    assert "Merged from s3://fleet/nightly/2026-11-30: 8 record(s) in 4 machine file(s)." in (out / "cost.md").read_text()

    header = (out / "fleet-cost.csv").read_text().splitlines()[0]
    assert header == ",".join(CSV_COLUMNS)
    rows = {r["instance_type"]: r for r in read_csv(out / "fleet-cost.csv")}
    assert set(rows) == {"c7a.large", "c7i.xlarge", "c7g.xlarge"}
    assert {r["schema_version"] for r in rows.values()} == {"1"} and {r["basis"] for r in rows.values()} == {"records"}
    assert (rows["c7a.large"]["machines"], rows["c7a.large"]["records"], rows["c7a.large"]["instance_hours"]) == ("1", "3", "0.5")
    assert rows["c7a.large"]["usd"] == "0.0513"       # 0.5 h x $0.10264
    assert (rows["c7i.xlarge"]["machines"], rows["c7i.xlarge"]["instance_hours"]) == ("2", "0.5")
    assert rows["c7i.xlarge"]["usd"] == "0.0892"      # 2 x 0.25 h x $0.1785 = 0.08925
    assert rows["c7g.xlarge"]["instance_hours"] == "0.0167" and rows["c7g.xlarge"]["usd"] == "0.0024"  # 60 s x $0.1445/h
    md = (out / "fleet-cost.md").read_text()
    assert "Total: **$0.14**" in md and "| c7i.xlarge | records | 2 | 4 | 0.5000 | 0.1785 | 0.0892 |" in md

    # collecting again into the same directory merges nothing new
    assert main(["fleet", "collect", "--results", "s3://fleet/nightly/2026-11-30", "--endpoint-url", s3_endpoint,
                 "--out", str(out), "--into", str(into), "--snapshot-dir", str(tmp_path / "none")]) == 0
    assert sum(len(p.read_text().splitlines()) for p in (into / "runs").glob("*.jsonl")) == 8


def test_collect_prices_the_fleet_from_batch_child_times(tmp_path, s3_endpoint, aws_env, monkeypatch, capsys):
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="fleet-batch")
    push_fleet(tmp_path, "s3://fleet-batch/n", s3_endpoint)
    plan = tmp_path / "plan"
    plan.mkdir()
    submit.save_submitted(plan, [SubmittedJob("c7a.large", "j", "p", "q", 2)])
    children = [("c7a.large", "p:0", 0.0, 1800.0), ("c7a.large", "p:1", 0.0, 5400.0)]  # 0.5 h + 1.5 h
    monkeypatch.setattr(submit, "batch_client", lambda region=None: "client")
    monkeypatch.setattr(submit, "child_times", lambda client, jobs: children if client == "client" and jobs[0].job_id == "p" else [])
    assert main(["fleet", "collect", "--results", "s3://fleet-batch/n", "--endpoint-url", s3_endpoint,
                 "--out", str(tmp_path / "r"), "--plan", str(plan), "--snapshot-dir", str(tmp_path / "none")]) == 0
    capsys.readouterr()
    (row,) = read_csv(tmp_path / "r" / "fleet-cost.csv")
    assert (row["instance_type"], row["basis"], row["machines"], row["instance_hours"], row["usd"]) == (
        "c7a.large", "batch", "2", "2.0", "0.2053")  # 2 h x $0.10264


def test_collect_bad_input_is_one_line(tmp_path, s3_endpoint, aws_env, capsys):
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="empty")
    cases = [
        (["--results", "https://example.com/x"], "expected an s3://bucket/prefix URL"),
        (["--results", "s3://empty/none", "--endpoint-url", s3_endpoint], "no records under s3://empty/none"),
        (["--results", "s3://empty/none", "--region", "ohio"], "--region: 'ohio' is not an AWS region code"),
    ]
    for extra, message in cases:
        assert main(["fleet", "collect", "--out", str(tmp_path / "r"), *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err


# ------------------------------------------------------------------------------------------------ self-cost units


def test_record_usage_fields_reads_time_type_and_machine():
    r = record("x", "c7a.large", "m1", 0)
    assert record_usage_fields(r) == (T0.timestamp(), "c7a.large", "m1")
    assert record_usage_fields(make("y", instance=None, machine_id="unknown", created_at="not a date")) == (None, None, "unknown")


def test_spans_split_where_a_machine_was_idle_for_more_than_an_hour():
    records = [record(f"r{m}", "c7a.large", "m1", m) for m in (0, 10, 190, 210)]
    spans = spans_from_records(records)
    assert [(s.start - T0.timestamp(), s.stop - T0.timestamp(), s.records) for s in spans] == [
        (0.0, 600.0, 2), (11400.0, 12600.0, 2)]
    assert sum(s.billed_hours for s in spans) == pytest.approx(0.5)


def test_undeclared_and_unpriced_instance_types_are_rows_without_money():
    spans = [Span(None, "m1", 0, 3600, 4, "records"), Span("p5.48xlarge", "m2", 0, 3600, 1, "records"),
             Span("c7a.large", "m3", 0, 7200, 2, "records")]
    rows = {r["instance_type"]: r for r in price_spans(spans, BOOK, "us-east-2")}
    assert rows["c7a.large"]["usd"] == pytest.approx(0.2053) and rows["c7a.large"]["usd_per_hour"] == 0.10264
    assert rows["(undeclared)"]["usd"] is None and rows["(undeclared)"]["price_source"] == "no instance type on these records"
    assert BOOK.get("p5.48xlarge", "us-east-2") is None  # the bundled snapshot has no p5 row in us-east-2
    p5 = rows["p5.48xlarge"]
    assert (p5["usd"], p5["usd_per_hour"], p5["price_source"], p5["instance_hours"]) == (None, None, "no price in us-east-2", 1.0)


def test_spans_from_batch_bill_at_least_a_minute():
    (span,) = spans_from_batch([("c7g.xlarge", "p:0", 100.0, 110.0)])
    assert (span.instance_type, span.machine, span.basis, span.billed_hours) == ("c7g.xlarge", "p:0", "batch", 60 / 3600)
    assert json.dumps(price_spans([span], BOOK, "us-east-2", "on-demand")[0]["usd"]) == "0.0024"


def test_the_jobs_own_command_measures_its_shard_and_pushes(tmp_path, s3_endpoint, aws_env, monkeypatch, capsys):
    """The container command from the plan, end to end on one tiny configuration (shard 1 of 2 here)."""
    from harness.measure.matrix import expand, shard, validate_matrix

    matrix = {"models": ["bert-tiny"], "backends": ["onnxruntime"], "threads": [1], "batch_sizes": [1], "seq_lens": [16],
              "settings": {"min_duration_s": 0.05, "min_iters": 5, "warmup_iters": 1}}
    configs = expand(validate_matrix({**matrix, "instance_type": "c7a.large"}))
    mine = shard(configs, (1, 2))
    assert len(mine) == 1 and shard(configs, (2, 2)) == []  # one configuration: dealt to the first shard
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="worker")
    for key, value in {"HARNESS_FLEET_MATRIX": json.dumps(matrix), "HARNESS_SHARD_COUNT": "2",
                       "JOB_COMPLETION_INDEX": "0"}.items():
        monkeypatch.setenv(key, value)
    code = main(["fleet", "worker", "--shard", "auto", "--instance-type", "c7a.large", "--results", "s3://worker/n",
                 "--endpoint-url", s3_endpoint, "--results-dir", str(tmp_path / "local")])
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "shard 1/2 on c7a.large: 1 configuration(s)" in out and "pushed 1 new record(s) to s3://worker/n" in out
    from harness.workflows.fleet.collect import pull_records

    (rec,) = [r.to_json() for r in pull_records("s3://worker/n", endpoint_url=s3_endpoint)[0]]
    assert rec["status"] == "ok" and rec["config"]["batch_size"] == mine[0].batch_size
    assert (rec["machine"]["instance_type"], rec["machine"]["instance_type_source"]) == ("c7a.large", "declared")
