"""MLPerf LoadGen plumbing with known answers: reading its logs, the batching system under test, the capacity
search's stop rules, the presets, and bad input as one line."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.cli import main
from harness.contracts import Settings
from harness.contracts.codec import RecordError
from harness.contracts.worker import LoadgenTrial
from harness.runner.capacity_search import best_trial, search_capacity
from harness.runner.loadgen_log import LoadgenLogError, parse_summary, read_logs
from harness.runner.loadgen_run import PRESETS, plan
from harness.runner.loadgen_sut import BatchingSUT

LOGS = Path(__file__).parent / "fixtures" / "loadgen"  # real logs of mlcommons-loadgen 6.0.17 (detail trimmed)


# ------------------------------------------------------------------------------------------------ logs


def test_server_logs_valid_run():
    got = read_logs(LOGS / "server-valid")
    assert got["result"] == "VALID"
    assert (got["perf_constraints_met"], got["min_duration_met"], got["min_queries_met"], got["early_stopping_met"]) == \
        (True, True, True, True)
    assert (got["scheduled_samples_per_s"], got["completed_samples_per_s"]) == (788.8, 785.31)
    assert (got["p50_ms"], got["p90_ms"], got["p99_ms"]) == (4.632282, 5.561609, 9.750664)  # ns / 1e6
    assert (got["target_qps"], got["target_latency_ms"]) == (800.0, 20.0)
    assert (got["query_count"], got["overlatency_queries"]) == (791, 0)  # from the detail log
    assert got["loadgen_version"].startswith("6.0.17")


def test_server_logs_invalid_run_says_why():
    got = read_logs(LOGS / "server-invalid")
    assert got["result"] == "INVALID"
    assert (got["perf_constraints_met"], got["early_stopping_met"]) == (False, False)
    assert got["p99_ms"] == 81.647575 and got["overlatency_queries"] == 188
    assert got["invalid_reason"] == "Reduce target QPS to improve latency."


def test_offline_and_single_stream_logs():
    off = read_logs(LOGS / "offline-invalid")
    assert (off["result"], off["samples_per_s"], off["min_duration_met"]) == ("INVALID", 1897.1, False)
    ss = read_logs(LOGS / "single-stream")
    assert ss["result"] == "VALID" and ss["early_stopping_p99_ms"] == 7.592182 and ss["p90_ms"] == 5.987281


def test_a_log_without_a_verdict_is_an_error(tmp_path):
    with pytest.raises(LoadgenLogError, match="no 'Result is"):
        parse_summary("MLPerf Results Summary\nSUT name : PySUT\n")
    with pytest.raises(LoadgenLogError, match="no mlperf_log_summary.txt"):
        read_logs(tmp_path)


# ------------------------------------------------------------------------------------------------ system under test


class _Sample:
    def __init__(self, i):
        self.id = i


def _sut(max_batch, max_wait_s=0.0, fail_at=None):
    calls, done = [], []

    def run_batch(k):
        calls.append(k)
        if fail_at is not None and len(calls) == fail_at:
            raise ValueError("engine fell over")

    def complete(ids):
        with COMPLETED:
            done.extend(ids)
            COMPLETED.notify_all()

    return BatchingSUT(run_batch, max_batch=max_batch, max_wait_s=max_wait_s, complete=complete), calls, done


COMPLETED = threading.Condition()


def _wait_for_completions(done: list, n: int, timeout_s: float = 30.0) -> None:
    """Until `n` queries have completed; a failure, not a hang, when they do not within the timeout."""
    with COMPLETED:
        assert COMPLETED.wait_for(lambda: len(done) >= n, timeout=timeout_s), f"{len(done)} of {n} queries completed"


def test_queued_queries_are_served_in_batches_of_at_most_max_batch():
    sut, calls, done = _sut(max_batch=2)
    sut.issue([_Sample(i) for i in range(5)])  # all queued before the serving thread starts
    sut.start()
    sut.stop()
    assert calls == [2, 2, 1] and done == [0, 1, 2, 3, 4]
    assert dict(sut.batches) == {2: 2, 1: 1}


def test_a_query_waits_for_others_until_the_batch_is_full():
    sut, calls, done = _sut(max_batch=3, max_wait_s=60.0)  # the batch fills long before the wait runs out
    sut.start()
    sut.issue([_Sample(0)])
    sut.issue([_Sample(1), _Sample(2)])
    sut.stop()
    assert calls == [3] and done == [0, 1, 2]


def test_without_a_wait_each_query_goes_alone():
    sut, calls, done = _sut(max_batch=8, max_wait_s=0.0)
    sut.start()
    for i in range(3):
        sut.issue([_Sample(i)])
        _wait_for_completions(done, i + 1)  # the previous call completed before the next query arrives
    sut.stop()
    assert calls == [1, 1, 1]


def test_an_engine_error_is_kept_and_every_query_still_completes():
    sut, calls, done = _sut(max_batch=1, fail_at=2)
    sut.issue([_Sample(i) for i in range(4)])
    sut.start()
    sut.stop()
    assert isinstance(sut.error, ValueError) and done == [0, 1, 2, 3]
    assert calls == [1, 1]  # no engine call after the failure


# ------------------------------------------------------------------------------------------------ capacity search


def _verdicts(threshold, seconds_per_trial=1.0):
    """trial(qps): VALID up to `threshold`; each trial advances a fake clock."""
    clock = {"t": 0.0}

    def trial(qps):
        clock["t"] += seconds_per_trial
        return LoadgenTrial(scenario="server", result="VALID" if qps <= threshold else "INVALID", target_qps=qps)

    return trial, lambda: clock["t"]


@pytest.mark.parametrize("threshold", [3.0, 123.4, 499.0])
def test_search_finds_the_threshold_within_its_tolerance(threshold):
    trial, clock = _verdicts(threshold)
    s = search_capacity(trial, upper=500.0, tolerance=0.05, budget_s=1000, clock=clock)
    assert s.stop_reason == "tolerance"
    assert threshold * (1 - 0.05) <= s.capacity_qps <= threshold
    assert s.bracket_hi_qps - s.lower_qps <= 0.05 * s.bracket_hi_qps
    assert s.trials[0].target_qps == 250.0  # the first trial at half the service-rate bound
    assert best_trial(s).target_qps == s.capacity_qps
    assert all((t.target_qps <= threshold) == t.valid for t in s.trials)


def test_search_stops_when_the_budget_is_spent():
    trial, clock = _verdicts(123.4, seconds_per_trial=10.0)
    s = search_capacity(trial, upper=500.0, tolerance=0.001, budget_s=35.0, clock=clock)
    assert s.stop_reason == "budget" and len(s.trials) == 4  # 10 s each: the 4th starts at 30 s < 35 s
    assert s.capacity_qps == 93.75  # 250 I, 125 I, 62.5 V, 93.75 V


def test_search_does_not_start_a_trial_that_cannot_finish():
    trial, clock = _verdicts(123.4, seconds_per_trial=10.0)
    s = search_capacity(trial, upper=500.0, tolerance=0.001, budget_s=35.0, clock=clock, expected_s=lambda q: 10.0)
    assert s.stop_reason == "budget" and len(s.trials) == 3  # 30 s + 10 s expected > 35 s


def test_search_with_no_valid_rate_answers_zero():
    trial, clock = _verdicts(0.0)
    s = search_capacity(trial, upper=500.0, tolerance=0.05, budget_s=1000, clock=clock)
    assert s.stop_reason == "no valid rate" and s.capacity_qps == 0.0 and best_trial(s) is None
    assert all(not t.valid for t in s.trials) and s.bracket_hi_qps <= 0.5


# ------------------------------------------------------------------------------------------------ settings


def test_presets_and_overrides():
    quick = plan(Settings(sla_ms=50), "server")
    assert (quick.preset, quick.min_duration_s, quick.min_queries, quick.tolerance, quick.budget_s) == \
        ("quick", 2.0, 500, 0.10, 120.0)
    full = plan(Settings(sla_ms=50, loadgen="full"), "offline")
    assert (full.min_duration_s, full.min_queries) == (600.0, 24576)  # MLPerf's minimums
    custom = plan(Settings(sla_ms=50, loadgen_min_duration_s=0.5, capacity_tolerance=0.2), "server")
    assert (custom.preset, custom.min_duration_s, custom.min_queries, custom.tolerance) == ("custom", 0.5, 500, 0.2)
    assert PRESETS["quick"].server_min_queries >= 459  # the fewest queries that can be VALID at p99


@pytest.mark.parametrize("field, value, message", [
    ("sla_ms", 0, "settings.sla_ms: expected a finite number > 0, got 0"),
    ("target_qps", float("nan"), "settings.target_qps: expected a finite number > 0, got nan"),
    ("target_qps", -5.0, "settings.target_qps: expected a finite number > 0, got -5.0"),
    ("max_batch", 0, "settings.max_batch: expected a positive integer, got 0"),
    ("max_wait_ms", float("inf"), "settings.max_wait_ms: expected a finite number >= 0, got inf"),
    ("capacity_tolerance", 0.6, "settings.capacity_tolerance: expected a fraction > 0 and <= 0.5, got 0.6"),
    ("loadgen", "slow", "settings.loadgen: unknown value 'slow'; valid: quick, full"),
])
def test_settings_refuse_bad_loadgen_values(field, value, message):
    with pytest.raises(RecordError) as err:
        Settings(**{field: value})
    assert str(err.value) == message


@pytest.mark.parametrize("argv, message", [
    # the flag parses; the range is Settings' (one check, one message naming the flag)
    (["--sla-ms", "0"], "--sla-ms: expected a finite number > 0, got 0.0"),
    (["--sla-ms", "-20"], "--sla-ms: expected a finite number > 0, got -20.0"),
    (["--sla-ms", "nan"], "--sla-ms: expected a finite number > 0, got nan"),
    (["--sla-ms", "fast"], "argument --sla-ms: expected a number, got 'fast'"),
    (["--sla-ms", "50", "--target-qps", "0"], "--target-qps: expected a finite number > 0, got 0.0"),
    (["--sla-ms", "50", "--target-qps", "inf"], "--target-qps: expected a finite number > 0, got inf"),
    (["--sla-ms", "50", "--max-batch", "0"], "--max-batch: expected a positive integer, got 0"),
    (["--sla-ms", "50", "--max-wait-ms", "-1"], "--max-wait-ms: expected a finite number >= 0, got -1.0"),
    (["--sla-ms", "50", "--capacity-tolerance", "0.7"], "--capacity-tolerance: expected a fraction > 0 and <= 0.5, got 0.7"),
    (["--sla-ms", "50", "--loadgen", "slow"], "argument --loadgen: invalid choice: 'slow'"),
    (["--sla-ms", "50", "--max-wait-ms", "5"], "--max-wait-ms: needs --max-batch above 1"),
    ([], "--scenario server needs --sla-ms (the p99 latency target)"),
])
def test_bad_server_input_is_one_line(argv, message, capsys, results_dir):
    code = main(["bench", "--model", "bert-tiny", "--backend", "onnxruntime", "--scenario", "server", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_batching_an_engine_with_static_shapes_is_one_line(capsys, results_dir):
    code = main(["bench", "--model", "bert-tiny", "--backend", "deepsparse", "--scenario", "server", "--sla-ms", "50",
                 "--max-batch", "8"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--max-batch 8: backend 'deepsparse' runs static shapes (batch 1 only)" in err


def test_server_flags_outside_the_server_scenario_are_one_line(capsys, results_dir):
    code = main(["bench", "--model", "bert-tiny", "--backend", "onnxruntime", "--max-batch", "4"])
    err = capsys.readouterr().err
    assert code == 2 and "--max-batch applies to --scenario server, not single-stream" in err
