"""The runner end to end: real worker processes, real engines, and failures that become records."""

import dataclasses
import os

import numpy as np
import pytest

from harness.contracts import BenchConfig, OpenVinoEngine, OrtEngine, Settings
from harness.measure.bench import measure, run_configs
from harness.results.store import load_records
from tests.helpers.require import require


def cfg(backend, settings, **kw):
    return BenchConfig(model=kw.pop("model", "bert-tiny"), backend=backend, seq_len=kw.pop("seq_len", 16), settings=settings, **kw)


# The torch engine itself runs each family in tests/test_quality.py (a checkpoint per family, the same model
# builder): here once, beside the exported engines, whose outputs are checked against torch's on every family.
@pytest.mark.parametrize("model, backends", [("bert-tiny", ("torch", "onnxruntime", "openvino")),
                                             ("distilbert-tiny", ("onnxruntime", "openvino")),
                                             ("resnet50-tiny", ("onnxruntime", "openvino"))])
def test_three_backends_agree_with_torch(model, backends, quick_settings):
    outputs = {}
    for backend in backends:
        r = measure(cfg(backend, quick_settings, model=model, seq_len=16 if "resnet" not in model else 32), calibrate=False)
        assert r.status == "ok", r.reason
        parity = r.metrics.parity
        assert parity.ok and parity.top1_agreement == 1.0
        assert parity.max_abs_diff <= parity.tolerance
        assert r.effective.precision == "fp32"
        assert r.effective.threads == 1
        assert len(r.samples_ms) >= 5
        assert r.latency.n == len(r.samples_ms)
        assert r.metrics.throughput_per_s > 0
        assert r.metrics.artifact_bytes > 0 and r.metrics.peak_rss_bytes > 0
        assert r.metrics.flops_per_inference > 0
        outputs[backend] = r
    # every engine reports the version it ran
    assert all(r.effective.backend_version for r in outputs.values())


def test_openvino_defaults_to_fp32_and_reads_it_back(quick_settings):
    r = measure(cfg("openvino", quick_settings), calibrate=False)
    engine = r.effective.engine
    assert isinstance(engine, OpenVinoEngine), engine
    assert engine.requested["INFERENCE_PRECISION_HINT"] == "f32"
    assert "float32" in engine.inference_precision_hint or engine.inference_precision_hint == "f32"
    assert r.effective.precision == "fp32"


def test_openvino_bf16_only_when_asked(quick_settings):
    r = measure(cfg("openvino", quick_settings, precision="bf16"), calibrate=False)
    assert r.status in ("ok", "parity_failed")
    if "avx512_bf16" in r.machine.isa_flags or "amx_bf16" in r.machine.isa_flags:
        assert r.effective.precision == "bf16"


def test_onnxruntime_refuses_bf16_with_a_record(quick_settings):
    r = measure(cfg("onnxruntime", quick_settings, precision="bf16"), calibrate=False)
    assert r.status == "unsupported" and "bf16" in r.reason


def test_affinity_is_applied_and_observed(quick_settings):
    require("two-cpus", "pinning to one CPU or another is told apart")
    one = measure(cfg("onnxruntime", quick_settings, threads=1), calibrate=False)
    (cpu,) = one.effective.cpus  # the first CPU no other harness run holds (harness.runner.cpus)
    assert cpu in os.sched_getaffinity(0)
    assert one.effective.cpus_observed and set(one.effective.cpus_observed) <= {cpu}
    two = measure(cfg("onnxruntime", quick_settings, threads=2), calibrate=False)
    assert len(two.effective.cpus) == 2
    assert two.effective.cpus_observed and set(two.effective.cpus_observed) <= set(two.effective.cpus)
    assert isinstance(two.effective.engine, OrtEngine), two.effective.engine
    assert two.effective.engine.intra_op_num_threads == 2
    assert two.effective.engine.intra_op_thread_affinities is not None


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_environment_is_set_before_the_engine_is_imported(quick_settings, fault_backends, threads):
    r = measure(cfg("envprobe", quick_settings, threads=threads), calibrate=False)
    assert r.status == "ok", r.reason
    seen = r.effective.engine
    assert set(seen["env"].values()) == {str(threads)}, seen["env"]  # every variable, before load() ran
    assert seen["torch_imported_before_load"] is False
    assert seen["torch_default_threads"] == threads  # torch took its thread count from OMP_NUM_THREADS at import


def test_crash_becomes_a_record_and_the_matrix_goes_on(quick_settings, fault_backends, results_dir):
    configs = [cfg("crash", quick_settings), cfg("raise", quick_settings), cfg("onnxruntime", quick_settings)]
    records = run_configs(configs, progress=False, calibrate=False, echo=False)
    assert [r.status for r in records] == ["error", "error", "ok"]
    assert "SIGSEGV" in records[0].reason
    assert records[1].reason == "ValueError: engine refused the model: unsupported operator Foo"
    stored = load_records()
    assert [r.record_id for r in stored] == [r.record_id for r in records]


def test_timeout_kills_the_worker(quick_settings, fault_backends):
    settings = dataclasses.replace(quick_settings, timeout_s=3)
    r = measure(cfg("hang", settings), calibrate=False)
    assert r.status == "timeout"
    assert "3 s timeout" in r.reason


def test_memory_limit_gives_an_oom_record(quick_settings, fault_backends):
    settings = dataclasses.replace(quick_settings, memory_limit_mb=1500)
    r = measure(cfg("hog", settings), calibrate=False)
    assert r.status == "oom", r.reason
    assert "memory" in r.reason


def test_parity_failure_is_recorded_not_timed(quick_settings, tmp_path, monkeypatch):
    import harness.measure.bench as bench

    real = bench.prepare

    def corrupt(config, **kw):
        art = real(config, **kw)
        data = dict(np.load(art.io_path))
        data["reference"] = data["reference"] + 1.0  # a reference the engine cannot match
        bad = tmp_path / "io.npz"
        np.savez(bad, **data)
        return art.replace(io_path=str(bad))

    monkeypatch.setattr(bench, "prepare", corrupt)
    r = measure(cfg("onnxruntime", quick_settings), calibrate=False)
    assert r.status == "parity_failed"
    assert "not timed" in r.reason and r.samples_ms == ()


def test_resume_skips_recorded_configurations(quick_settings, results_dir):
    configs = [cfg("onnxruntime", quick_settings), cfg("openvino", quick_settings)]
    first = run_configs(configs, progress=False, calibrate=False, echo=False, force=False)
    assert len(first) == 2
    again = run_configs(configs, progress=False, calibrate=False, echo=False, force=False)
    assert again == []
    forced = run_configs(configs[:1], progress=False, calibrate=False, echo=False, force=True)
    assert len(forced) == 1
    assert len(load_records()) == 3


def test_interleaved_repeats_alternate(quick_settings, results_dir):
    configs = [cfg("onnxruntime", quick_settings), cfg("openvino", quick_settings)]
    records = run_configs(configs, repeats=2, progress=False, calibrate=False, echo=False)
    assert [r.config.backend for r in records] == ["onnxruntime", "openvino", "onnxruntime", "openvino"]


def test_record_contract_fields(quick_settings, tmp_path, monkeypatch):
    """A record says what ran, as asked and as observed: the values, not only the keys (to_json emits every field).
    Its own cache: the GEMM peak is calibrated here for real (conftest seeds the session's with an estimate)."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    from harness.runner import calibrate

    # the real calibration path (GEMM workers, pinned), timed briefly: the peak's value is not what is tested
    monkeypatch.setattr(calibrate, "CALIBRATION_SETTINGS", Settings(warmup_iters=1, warmup_s=0.0, min_iters=3,
                                                                   min_duration_s=0.2, max_duration_s=2.0))
    from harness.contracts import SCHEMA_VERSION
    from harness.foundation.stats import summarize

    config = cfg("onnxruntime", quick_settings, instance_type="c7a.large")
    r = measure(config, calibrate=True).to_json()
    assert r["schema_version"] == SCHEMA_VERSION and r["status"] == "ok" and r["reason"] is None
    assert r["config_hash"] == config.config_hash()
    c = r["config"]
    assert (c["model"], c["variant"], c["variant_name"], c["backend"], c["kernel"], c["precision"], c["batch_size"],
            c["seq_len"], c["threads"], c["scenario"], c["instance_type"]) == (
        "bert-tiny", None, "dense", "onnxruntime", "dense", "fp32", 1, 16, 1, "single-stream", "c7a.large")
    e = r["effective"]
    assert (e["precision"], e["threads"], e["device"]) == ("fp32", 1, "cpu")
    assert len(e["cpus"]) == 1 and set(e["cpus"]) <= os.sched_getaffinity(0)
    assert e["backend_version"] == __import__("onnxruntime").__version__
    lat, samples = r["metrics"]["latency_ms"], r["samples_ms"]
    assert lat["n"] == len(samples) >= quick_settings.min_iters
    expected = summarize(samples)
    assert lat["p50"] == pytest.approx(expected["p50"]) and lat["p50"] <= lat["p90"] <= max(samples)
    lo, hi = lat["ci95"]["p50"]
    assert lo <= lat["p50"] <= hi
    assert r["metrics"]["throughput_per_s"] == pytest.approx(1000.0 / lat["mean"], rel=1e-6)
    m = r["machine"]
    assert m["instance_type"] == "c7a.large" and m["instance_type_source"] == "declared"
    assert m["logical_cpus"] == os.cpu_count() and m["python"].startswith("3.11")
    for key in ("cpu_model", "physical_cores", "isa_flags", "ram_bytes", "os", "libraries"):
        assert m[key]
    assert m["gemm_peak_gflops"] > 0
    assert r["metrics"]["gflops_per_s"] == pytest.approx(
        r["metrics"]["flops_per_inference"] / (lat["p50"] / 1000) / 1e9)
    assert r["metrics"]["roofline_fraction"] == pytest.approx(r["metrics"]["gflops_per_s"] / m["gemm_peak_gflops"])


def test_cuda_backend_is_unsupported_without_a_gpu(quick_settings):
    import torch

    r = measure(cfg("torch-cuda", quick_settings), calibrate=False)
    if torch.cuda.is_available():
        assert r.status == "ok" and r.effective.device.startswith("cuda")
        assert r.effective.engine.timer == "cuda-events"
    else:
        assert r.status == "unsupported" and "no CUDA device" in r.reason


# ------------------------------------------------------------------------------------------------ server and offline (LoadGen)


def loadgen_settings(**kw):
    """Short LoadGen runs for tests: 500 queries (the fewest that can be VALID at p99 has 459), a loose search."""
    from harness.contracts import Settings

    base = dict(warmup_iters=1, warmup_s=0.0, min_iters=20, min_duration_s=0.1, timeout_s=180, sla_ms=20.0,
                loadgen_min_duration_s=0.1, loadgen_min_queries=500, capacity_tolerance=0.2, capacity_budget_s=40.0)
    return Settings(**(base | kw))


def test_server_scenario_runs_loadgen_and_keeps_its_logs(fault_backends, results_dir, monkeypatch):
    from harness.results.cost.capacity import capacity_under_sla

    monkeypatch.setenv("HARNESS_TEST_SERVICE_MS", "2")
    [r] = run_configs([cfg("sleep", loadgen_settings(), scenario="server")], progress=False, calibrate=False, echo=False)
    assert r.status == "ok", r.reason
    lg = r.metrics.loadgen
    assert (lg.scenario, lg.preset, lg.target_latency_ms, lg.max_batch, lg.items_per_query) == ("server", "custom", 20.0, 1, 1)
    search = lg.search
    assert search.stop_reason in ("tolerance", "budget") and search.trials
    assert 0 < search.capacity_qps < search.upper_qps <= 1000 / 2  # never above the service rate of a 2 ms call
    assert lg.run.valid and lg.run.target_qps == search.capacity_qps and lg.run.p99_ms <= 20.0
    # the logs of every trial lie next to the records, where the record says
    assert lg.log_dir == f"loadgen/{r.record_id}"
    for trial in search.trials:
        summary = results_dir / lg.log_dir / trial.log_dir / "mlperf_log_summary.txt"
        assert f"Result is : {trial.result}" in summary.read_text()
        assert (results_dir / lg.log_dir / trial.log_dir / "mlperf_log_detail.txt").exists()
    [stored] = load_records()
    assert stored.metrics.loadgen == lg  # the contract survives the store
    cap = capacity_under_sla(stored, 20.0)
    assert cap.sla_met and cap.capacity_per_s == search.capacity_qps
    assert cap.basis.startswith("LoadGen server: highest VALID rate") and "no batching" in cap.basis


def test_a_too_high_target_is_invalid_and_not_used_for_cost(fault_backends, results_dir, monkeypatch):
    from harness.pricing import load_price_book
    from harness.results.cost.analysis import analyze
    from harness.results.cost.catalog import load_catalog
    from harness.results.cost.query import CostQuery

    monkeypatch.setenv("HARNESS_TEST_SERVICE_MS", "2")
    settings = loadgen_settings(target_qps=1500.0)  # three times what a 2 ms engine serves
    [r] = run_configs([cfg("sleep", settings, scenario="server", instance_type="c7a.large")], progress=False,
                      calibrate=False, echo=False)
    assert r.status == "ok", r.reason
    run = r.metrics.loadgen.run
    assert (run.result, run.perf_constraints_met, run.target_qps) == ("INVALID", False, 1500.0)
    assert r.metrics.loadgen.capacity_qps == 0.0
    query = CostQuery(sla_ms=20.0, qps=100.0, gpu_reference=False, allow_unknown_quality=True)
    a = analyze([r], query, load_price_book(snapshot_dir=None), load_catalog(["bert-tiny"]))
    [row] = a.rows
    assert row.sla_met is False and row.usd_per_million is None and row.usd_per_month_at_target is None
    assert "INVALID runs are not used" in row.capacity_basis


def test_each_batching_setting_is_a_record_and_the_report_names_the_winner(fault_backends, results_dir, monkeypatch):
    from harness.pricing import load_price_book
    from harness.results.cost.analysis import analyze
    from harness.results.cost.catalog import load_catalog
    from harness.results.cost.query import CostQuery

    # 2 ms per call plus 0.5 ms per row: alone 2.5 ms a query (400/s at most); 8 merged, 6 ms (1333/s)
    monkeypatch.setenv("HARNESS_TEST_SERVICE_MS", "2")
    monkeypatch.setenv("HARNESS_TEST_PER_ITEM_MS", "0.5")
    configs = [cfg("sleep", loadgen_settings(), scenario="server", instance_type="c7a.large"),
               cfg("sleep", loadgen_settings(max_batch=8, max_wait_ms=2.0), scenario="server", instance_type="c7a.large")]
    alone, batched = run_configs(configs, progress=False, calibrate=False, echo=False)
    assert alone.config_hash != batched.config_hash
    assert alone.status == batched.status == "ok", (alone.reason, batched.reason)
    assert batched.metrics.loadgen.max_batch == 8 and batched.metrics.loadgen.max_wait_ms == 2.0
    assert alone.metrics.loadgen.capacity_qps < 400 < batched.metrics.loadgen.capacity_qps
    assert set(batched.metrics.loadgen.run.batches) - {"1"}  # merged calls happened
    query = CostQuery(sla_ms=20.0, qps=100.0, gpu_reference=False, allow_unknown_quality=True)
    a = analyze([alone, batched], query, load_price_book(snapshot_dir=None), load_catalog(["bert-tiny"]))
    [row] = a.rows  # one configuration group; the cheaper batching setting wins
    assert row.record_id == batched.record_id
    assert "batching up to 8 queries within 2 ms" in row.capacity_basis
    assert {c.record_id for c in a.candidates} == {alone.record_id, batched.record_id}


def test_offline_scenario_runs_loadgen(fault_backends, results_dir, monkeypatch):
    from harness.results.cost.capacity import capacity_under_sla

    monkeypatch.setenv("HARNESS_TEST_SERVICE_MS", "4")
    settings = loadgen_settings(loadgen_min_duration_s=0.5, loadgen_min_queries=64)
    [r] = run_configs([cfg("sleep", settings, scenario="offline", batch_size=4)], progress=False, calibrate=False, echo=False)
    assert r.status == "ok", r.reason
    lg = r.metrics.loadgen
    assert (lg.scenario, lg.max_batch, lg.items_per_query, lg.run.result) == ("offline", 4, 1, "VALID")
    assert lg.run.samples_per_s <= 4 / 0.004  # four items per 4 ms call at best
    assert set(lg.run.batches) <= {"4", "1", "2", "3"} and lg.run.batches["4"] > 0
    cap = capacity_under_sla(r, 1000.0)
    assert cap.throughput_per_s == lg.run.samples_per_s and cap.basis.startswith("LoadGen offline: VALID")


def test_an_engine_failing_during_loadgen_becomes_a_record(fault_backends, results_dir, monkeypatch):
    monkeypatch.setenv("HARNESS_TEST_FAIL_AFTER", "450")  # parity and the 368 timed calls pass; the LoadGen run does not
    [r] = run_configs([cfg("sleep", loadgen_settings(target_qps=200.0), scenario="server")], progress=False,
                      calibrate=False, echo=False)
    assert r.status == "error"
    assert r.reason.startswith("the engine failed during the LoadGen server run: RuntimeError: engine stopped answering")
    assert r.reason.endswith(f"(logs: loadgen/{r.record_id})") and r.samples_ms  # the timed loop is kept


def test_without_loadgen_installed_the_scenario_is_unsupported(fault_backends, results_dir, monkeypatch, tmp_path):
    (tmp_path / "mlperf_loadgen.py").write_text("raise ImportError('hidden for this test')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the worker finds this module before the installed one
    [r] = run_configs([cfg("sleep", loadgen_settings(), scenario="server")], progress=False, calibrate=False, echo=False)
    assert r.status == "unsupported"
    assert "MLPerf LoadGen is not installed" in r.reason and "mlcommons-loadgen==6.0.17" in r.reason
