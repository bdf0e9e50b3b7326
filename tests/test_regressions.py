"""`harness regressions`: known verdicts from hand-built samples and records; quiet within the spread; exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli import main
from harness.contracts import BenchConfig, Settings
from harness.foundation.errors import ConfigError, HarnessError
from harness.results.regressions import compare_runs, find_regressions, resolve_rev
from harness.results.store import append_record
from tests.helpers.records import record as make

BASE = np.linspace(9.5, 10.5, 101)  # median exactly 10.0


def record(commit, created_at, samples, *, model="bert-tiny", backend="torch", threads=1, status="ok",
           machine="m1", settings=None):
    config = BenchConfig(model=model, backend=backend, threads=threads, seq_len=16, settings=settings or Settings(min_iters=20))
    return make(f"{commit}-{created_at}", model=model, backend=backend, threads=threads, seq_len=16, status=status,
                samples=samples, machine_id=machine, created_at=created_at, commit=commit, instance=None,
                config_hash=config.config_hash(), settings=config.settings, p99=None)


# -- the statistics of one comparison --------------------------------------------------------------------------


def test_twenty_percent_slower_is_a_regression():
    out = compare_runs([BASE], [BASE * 1.2])
    assert out["ratio"] == pytest.approx(1.2, rel=1e-12)
    assert (out["baseline_p50_ms"], out["latest_p50_ms"]) == (pytest.approx(10.0), pytest.approx(12.0))
    assert out["p_value"] < 1e-10
    assert out["verdict"] == "regression"
    assert (out["n_baseline"], out["n_latest"], out["run_spread"], out["threshold"]) == (101, 101, None, 1.10)
    lo, hi = out["ratio_ci95"]
    assert lo <= 1.2 <= hi


def test_twenty_percent_faster_is_an_improvement():
    out = compare_runs([BASE], [BASE * 0.8])
    assert out["ratio"] == pytest.approx(0.8)
    assert out["verdict"] == "improvement"


def test_significant_but_small_change_stays_quiet():
    out = compare_runs([BASE], [BASE * 1.05])
    assert out["p_value"] < 0.01  # the shift is real ...
    assert out["ratio"] == pytest.approx(1.05)
    assert out["verdict"] == "unchanged"  # ... but below the 10% threshold


def test_large_ratio_on_three_samples_is_not_significant():
    out = compare_runs([[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]])
    assert out["ratio"] == pytest.approx(2.5)
    assert out["p_value"] == pytest.approx(0.1)  # exact two-sided Mann-Whitney for 3 vs 3, fully separated
    assert out["verdict"] == "unchanged"


def test_change_within_the_run_to_run_spread_stays_quiet():
    # two runs of the baseline commit disagree by 20% (medians 10 and 12): a 19% change is within that spread
    runs = [BASE, BASE + 2.0]
    latest = np.linspace(12.6, 13.6, 101)
    out = compare_runs(runs, [latest])
    assert out["run_spread"] == pytest.approx(1.2)
    assert out["threshold"] == pytest.approx(1.2)
    assert out["ratio"] == pytest.approx(13.1 / 11.0)  # pooled baseline median is (10.5 + 11.5) / 2
    assert out["p_value"] < 0.01
    assert out["verdict"] == "unchanged"
    # the same latest run against one steady baseline run is a regression
    assert compare_runs([BASE], [latest])["verdict"] == "regression"


# -- choosing what to compare -------------------------------------------------------------------------------------


def test_latest_commit_is_compared_with_each_benchmarks_previous_commit():
    records = [
        record("aaaa1111", "2026-11-20T00:00:00+00:00", BASE * 2),
        record("bbbb2222", "2026-11-21T00:00:00+00:00", BASE),
        record("cccc3333", "2026-11-22T00:00:00+00:00", BASE * 1.3),
        # another benchmark, run only at the latest commit: nothing to compare
        record("cccc3333", "2026-11-22T00:01:00+00:00", BASE, backend="onnxruntime"),
        # a failed run is ignored
        record("cccc3333", "2026-11-22T00:02:00+00:00", [], threads=2, status="error"),
    ]
    report = find_regressions(records)
    assert report.latest_commit == "cccc3333"
    assert len(report.comparisons) == 1
    c = report.comparisons[0]
    assert (c.baseline_commit, c.latest_commit, c.backend, c.verdict) == ("bbbb2222", "cccc3333", "torch", "regression")
    assert c.ratio == pytest.approx(1.3)
    assert report.without_baseline == ("bert-tiny[dense] onnxruntime t1 b1 s16",)

    since = find_regressions(records, since="aaaa")
    assert since.comparisons[0].baseline_commit == "aaaa1111"
    assert since.comparisons[0].ratio == pytest.approx(0.65)
    assert since.comparisons[0].verdict == "improvement"
    assert since.regressions == ()


def test_runs_of_one_commit_are_pooled_and_other_machines_kept_apart():
    records = [
        record("aaaa1111", "2026-11-20T00:00:00+00:00", BASE),
        record("aaaa1111", "2026-11-20T01:00:00+00:00", BASE),
        record("bbbb2222", "2026-11-21T00:00:00+00:00", BASE * 1.5),
        record("aaaa1111", "2026-11-20T00:00:00+00:00", BASE, machine="m2"),
    ]
    report = find_regressions(records)
    assert len(report.comparisons) == 1
    c = report.comparisons[0]
    assert (c.machine_id, c.runs_baseline, c.runs_latest, c.n_baseline, c.n_latest) == ("m1", 2, 1, 202, 101)
    assert c.run_spread == pytest.approx(1.0)


def test_a_field_added_later_with_its_default_keeps_the_history_together():
    old = record("aaaa1111", "2026-11-20T00:00:00+00:00", BASE)
    explicit = BenchConfig(model="bert-tiny", backend="torch", seq_len=16, checkpoint=None, backend_settings={},
                           settings=Settings(min_iters=20, memory_limit_mb=None))
    assert explicit.config_hash() == old.config_hash  # fields at their defaults are not part of the identity
    new = record("bbbb2222", "2026-11-21T00:00:00+00:00", BASE * 1.5)
    assert find_regressions([old, new]).comparisons[0].verdict == "regression"
    other = record("bbbb2222", "2026-11-21T00:00:00+00:00", BASE, settings=Settings(min_iters=50))
    assert other.config_hash != old.config_hash
    assert find_regressions([old, other]).comparisons == ()  # a different measurement: no baseline


def test_a_schema_version_1_record_keeps_its_identity():
    """A stored version-1 line (engine knobs among the settings) reads as version 2 with the same config_hash."""
    from harness.contracts import RunRecord

    line = {"schema_version": 1, "record_id": "x", "status": "ok", "config_hash": "8e482be4dd5aaf57",
            "config": {"model": "bert-base", "backend": "torch", "batch_size": 1, "seq_len": 128, "threads": 1,
                       "precision": "fp32", "kernel": "dense", "variant": None, "checkpoint": None,
                       "scenario": "single-stream", "instance_type": "c7a.large",
                       "settings": {"warmup_iters": 3, "warmup_s": 1.0, "min_iters": 20, "min_duration_s": 4,
                                    "max_iters": 100000, "max_duration_s": 120.0, "timeout_s": 900.0,
                                    "memory_limit_mb": None, "spinning": True, "streams": 1, "pinning": True,
                                    "sla_ms": None, "server_requests": 300, "server_steps": 6,
                                    "openvino_sparse_rate": None, "sparse_threshold": None}},
            "machine": {"id": "acccc04cdf3c"}}
    rec = RunRecord.from_json(line)
    assert rec.schema_version == 3 and rec.config.backend_settings == {}
    assert rec.config.bench_config.config_hash(None) == "8e482be4dd5aaf57"  # as the demo stored it on 2026-11-25


def test_bad_arguments_name_the_flag():
    records = [record("aaaa1111", "2026-11-20T00:00:00+00:00", BASE)]
    with pytest.raises(ConfigError, match=r"^--threshold: expected a ratio >= 1.0"):
        find_regressions(records, threshold=0.9)
    with pytest.raises(ConfigError, match=r"^--alpha"):
        find_regressions(records, alpha=1.5)
    with pytest.raises(HarnessError, match=r"^--since ffff: no successful run records at that commit; recorded: aaaa1111"):
        find_regressions(records, since="ffff")
    with pytest.raises(HarnessError, match="is the latest commit itself"):
        find_regressions(records, since="aaaa1111")
    assert find_regressions([]).latest_commit is None


def test_resolve_rev_uses_git_and_falls_back_to_the_text(tmp_path):
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x")
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert resolve_rev("HEAD", tmp_path) == head
    assert resolve_rev("deadbeef", tmp_path) == "deadbeef"


# -- the command ------------------------------------------------------------------------------------------------


def _store(root, records):
    for r in records:
        append_record(r, root)


def test_command_exits_1_on_a_regression_and_prints_the_table(tmp_path, capsys):
    _store(tmp_path, [record("aaaa1111", "2026-11-20T00:00:00+00:00", BASE),
                      record("bbbb2222", "2026-11-21T00:00:00+00:00", BASE * 1.25)])
    assert main(["regressions", "--results", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "latest bbbb2222 vs each benchmark's previous commit: 1 compared, 1 regression(s)" in out
    row = [line for line in out.splitlines() if line.startswith("REGRESSION")]
    assert len(row) == 1 and "bert-tiny" in row[0] and "1.25" in row[0]


def test_command_is_quiet_within_the_threshold_and_exits_0(tmp_path, capsys):
    _store(tmp_path, [record("aaaa1111", "2026-11-20T00:00:00+00:00", BASE),
                      record("bbbb2222", "2026-11-21T00:00:00+00:00", BASE * 1.05)])
    assert main(["regressions", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("(ratio > 1.10 and run-to-run spread, Mann-Whitney p < 0.01)")
    assert "0 regression(s), 0 improvement(s), 1 within threshold" in out
    assert len(out.strip().splitlines()) == 1  # no table: nothing to report
    assert main(["regressions", "--results", str(tmp_path), "--all"]) == 0
    assert "unchanged" in capsys.readouterr().out
    # a stricter threshold turns the same data into a regression
    assert main(["regressions", "--results", str(tmp_path), "--threshold", "1.02"]) == 1


def test_command_json_and_one_line_errors(tmp_path, capsys):
    _store(tmp_path, [record("aaaa1111", "2026-11-20T00:00:00+00:00", BASE),
                      record("bbbb2222", "2026-11-21T00:00:00+00:00", BASE * 0.5)])
    assert main(["regressions", "--results", str(tmp_path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["latest_commit"], data["regressions"], data["improvements"]) == ("bbbb2222", 0, 1)
    assert data["comparisons"][0]["ratio"] == pytest.approx(0.5)
    assert main(["regressions", "--results", str(tmp_path), "--since", "ffff"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: --since ffff") and len(err.strip().splitlines()) == 1
    assert main(["regressions", "--results", str(tmp_path), "--format", "xml"]) == 2
    assert "valid choices: table, json" in capsys.readouterr().err


def test_command_with_no_records_says_so(tmp_path, capsys):
    assert main(["regressions", "--results", str(tmp_path)]) == 0
    assert "no successful run records yet" in capsys.readouterr().out


# -- machines: a history never spans two machine ids ------------------------------------------------------------


def test_a_faster_machine_yesterday_is_not_a_regression_today(tmp_path, capsys):
    """Genoa measured c1 yesterday, Milan (twice as slow, another machine id) measured c2 today: nothing is compared,
    and the report says the newest run's machine has no history of its own."""
    genoa = record("c1", "2026-11-29T00:00:00+00:00", BASE, machine="genoa1")
    milan = record("c2", "2026-11-30T00:00:00+00:00", BASE * 2, machine="milan1")
    report = find_regressions([genoa, milan])
    assert report.comparisons == () and report.latest_commit == "c2"
    assert report.machine_note.startswith("the newest run's machine milan1 (AMD EPYC 9R14, family ? model ?")
    assert "has no earlier runs: nothing of it is compared; runs of 1 other machine(s) (genoa1)" in report.machine_note
    for r in (genoa, milan):
        append_record(r, tmp_path)
    assert main(["regressions", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "0 compared" in out and "machine milan1" in out and "has no earlier runs" in out
    assert main(["regressions", "--results", str(tmp_path), "--format", "json"]) == 0
    assert "milan1" in json.loads(capsys.readouterr().out)["machine_note"]


def test_each_machine_is_compared_with_its_own_history_only():
    runs = [record("c1", "2026-11-29T00:00:00+00:00", BASE, machine="genoa1"),
            record("c1", "2026-11-29T01:00:00+00:00", BASE * 2, machine="milan1"),
            record("c2", "2026-11-30T00:00:00+00:00", BASE * 2.02, machine="milan1"),
            record("c2", "2026-11-30T01:00:00+00:00", BASE * 0.99, machine="genoa1")]
    report = find_regressions(runs)
    assert sorted((c.machine_id, c.verdict) for c in report.comparisons) == [("genoa1", "unchanged"),
                                                                               ("milan1", "unchanged")]
    assert report.machine_note is None and report.regressions == ()
