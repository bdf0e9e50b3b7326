"""Cost arithmetic and the join of records x quotes, against hand-computed answers."""

from __future__ import annotations

import pytest

from harness.contracts import Quality, ServerResult
from harness.foundation.errors import ConfigError
from harness.pricing import PriceBook, PriceQuote, load_price_book
from harness.results.cost.analysis import analyze
from harness.results.cost.query import CostQuery
from harness.results.cost.arithmetic import (
    break_even_qps,
    fleet_size,
    fleet_usd_per_month,
    usd_per_million,
    usd_per_month,
)
from harness.results.cost.capacity import capacity_under_sla
from harness.results.cost.catalog import load_catalog
from tests.helpers.records import record

BUNDLED = load_price_book(snapshot_dir=None)
CATALOG = load_catalog(["bert-base"])


def priced(records, sla_ms, qps, region, book, catalog, **options):
    """analyze() for one CostQuery made of the terms the tests name."""
    return analyze(records, CostQuery(sla_ms=sla_ms, qps=qps, region=region, **options), book, catalog)


def make_record(rid, variant=None, p99=50.0, thr=20.0, instance="c7a.large", batch=1, threads=2, backend="onnxruntime",
                model="bert-base", seq_len=128, device="cpu", unsupported=(), scenario="single-stream", server=None,
                accuracy=None, sparsity=None, status="ok", created_at="2026-11-24T23:00:00+00:00", precision="fp32"):
    """A run record as the runner writes it (only the fields cost code reads are set)."""
    return record(rid, variant=variant, p99=p99, thr=thr, instance=instance, batch=batch, threads=threads,
                  backend=backend, model=model, seq_len=seq_len, device=device, unsupported=unsupported, n=120,
                  scenario=scenario, server=ServerResult.from_json(server) if server is not None else None,
                  accuracy=accuracy, sparsity=sparsity, status=status, created_at=created_at, precision=precision)


# ------------------------------------------------------------------------------------------------ arithmetic


def test_usd_per_million_hand_computed():
    # 0.10264 $/h / (10/s * 3600 s/h) * 1e6 = 0.10264 / 36000 * 1e6 = 2.851111...
    assert usd_per_million(0.10264, 10) == pytest.approx(2.851111, abs=1e-6)
    # 0.526 $/h at 512.82/s (1000 / 1.95 ms) = 0.526 * 1.95 / 3.6 = 0.284917
    assert usd_per_million(0.526, 1000 / 1.95) == pytest.approx(0.284917, abs=1e-6)
    with pytest.raises(ValueError):
        usd_per_million(0.1, 0)


def test_fleet_size_and_monthly_cost():
    assert fleet_size(50, 8) == 7  # 6.25 -> 7
    assert fleet_size(50, 25) == 2  # exactly 2
    assert fleet_size(1.1, 0.1) == 11  # 11.000000000000002 in floats: still 11
    assert fleet_size(0.3, 0.1) == 3
    assert fleet_size(50.01, 25) == 3
    assert usd_per_month(7, 0.10264) == pytest.approx(524.4904)  # 7 * 0.10264 * 730
    assert fleet_usd_per_month(50, 25, 0.10264) == pytest.approx(149.8544)  # 2 * 0.10264 * 730


def test_break_even_simple_crossing():
    # CPU 10/s at $0.1/h, GPU 100/s at $0.5/h. On (40, 50]: 5 x 0.1 = 0.5 = 1 x 0.5 (equal);
    # on (50, 60]: 0.6 > 0.5, and the GPU stays no dearer above -> break-even 50 req/s.
    be = break_even_qps(10, 0.1, 100, 0.5, within_qps=1000)
    assert be.gpu_cheaper_above_qps == 50 and be.stays_cheaper
    assert be.describe() == "GPU cheaper above 50 req/s (checked up to 1,000 req/s)"


def test_break_even_steps_alternate():
    # CPU 10/s $0.1, GPU 25/s $0.2: (10,20] equal 0.2/0.2; (20,25] CPU 0.3 > GPU 0.2; (25,30] CPU 0.3 < GPU 0.4
    be = break_even_qps(10, 0.1, 25, 0.2, within_qps=1000)
    assert (be.gpu_cheaper_above_qps, be.gpu_cheaper_until_qps, be.stays_cheaper) == (20, 25, False)


def test_break_even_never_and_always():
    never = break_even_qps(100, 0.1, 100, 0.5, within_qps=5000)
    assert never.gpu_cheaper_above_qps is None and never.describe() == "GPU never cheaper within 5,000 req/s"
    always = break_even_qps(10, 1.0, 100, 0.5, within_qps=1000)
    assert always.gpu_cheaper_above_qps == 0 and always.describe().startswith("GPU cheaper at any rate")


# ------------------------------------------------------------------------------------------------ capacity under SLA


def test_capacity_uses_p99_then_falls_back_and_says_which():
    ok = capacity_under_sla(make_record("a", p99=40, thr=25), 100)
    assert (ok.capacity_per_s, ok.sla_met, ok.percentile, ok.basis) == (25.0, True, "p99", "p99 40 ms <= 100 ms")
    late = capacity_under_sla(make_record("b", p99=130, thr=8), 100)
    assert (late.capacity_per_s, late.sla_met) == (0.0, False) and late.basis.endswith("SLA not met")
    fb = capacity_under_sla(make_record("c", p99=90, thr=12, unsupported=["p99"]), 100)
    assert fb.percentile == "p90" and fb.latency_ms == 81.0 and fb.capacity_per_s == 12
    assert fb.basis == "p99 unsupported (n=120); used p90 81 ms <= 100 ms"


def test_capacity_server_record():
    server = {"sla_ms": 100.0, "max_rate_per_s": 35.2, "trials": [
        {"rate_per_s": 20.0, "p99_ms": 60.0, "met": True}, {"rate_per_s": 35.2, "p99_ms": 95.0, "met": True},
        {"rate_per_s": 40.0, "p99_ms": 180.0, "met": False}]}
    rec = make_record("s", scenario="server", server=server)
    same = capacity_under_sla(rec, 100)
    assert (same.capacity_per_s, same.sla_met, same.percentile) == (35.2, True, "server")
    tighter = capacity_under_sla(rec, 70)  # from the trials: 20/s had p99 60 ms
    assert (tighter.capacity_per_s, tighter.sla_met) == (20.0, True)
    none = capacity_under_sla(rec, 50)
    assert (none.capacity_per_s, none.sla_met) == (0.0, False)


def test_capacity_server_record_with_p90_quantile_says_so():
    # the runner measures p90 when a trial has fewer than 300 requests, and names its trials' field p90_ms
    server = {"sla_ms": 100.0, "max_rate_per_s": 30.0, "quantile": 0.9, "trials": [
        {"rate_per_s": 30.0, "p90_ms": 80.0, "met": True, "n": 100}, {"rate_per_s": 45.0, "p90_ms": 140.0, "met": False, "n": 100}]}
    rec = make_record("s90", scenario="server", server=server)
    same = capacity_under_sla(rec, 100)
    assert same.capacity_per_s == 30.0 and same.basis == "server: max rate 30/s with p90 <= 100 ms"
    looser = capacity_under_sla(rec, 150)
    assert looser.capacity_per_s == 45.0 and looser.basis == "server trials: max rate 45/s with p90 140 ms <= 150 ms"


def test_variant_label_prefers_the_runner_variant_name():
    rec = make_record("v", "/variants/run-17")
    assert rec.variant_label == "run-17"
    rec = rec.replace(config=rec.config.replace(variant_name="bert-base-magnitude-90"))
    assert rec.variant_label == "bert-base-magnitude-90"
    assert make_record("d").variant_label == "dense"


# ------------------------------------------------------------------------------------------------ the join


def test_best_configuration_within_sla_hand_computed():
    recs = [
        make_record("dense-b1", None, p99=130, thr=8),  # dense misses the SLA
        make_record("p90-b1", "/variants/bert-90", p99=40, thr=25),
        make_record("p90-b8", "/variants/bert-90", p99=300, thr=30, batch=8),  # more throughput, misses SLA
        make_record("p90-t1", "/variants/bert-90", p99=70, thr=14, threads=1),
    ]
    a = priced(recs, 100, 50, "us-east-2", BUNDLED, CATALOG, gpu_reference=False)
    rows = {r.variant: r for r in a.rows}
    assert set(rows) == {"dense", "bert-90"}
    best = rows["bert-90"]
    assert (best.record_id, best.batch, best.threads, best.throughput_per_s) == ("p90-b1", 1, 2, 25.0)
    assert best.usd_per_million == pytest.approx(1.140444, abs=1e-6)  # 0.10264 / (25 * 3600) * 1e6
    assert best.instances_at_target == 2  # ceil(50 / 25)
    assert best.usd_per_month_at_target == pytest.approx(149.8544)  # 2 * 0.10264 * 730
    assert best.price_source.endswith("[grade S]") and best.price_date == "2026-12-05"
    assert best.vcpu_or_gpu == "2 vCPU (2 cores)" and best.measured_or_reference == "measured"
    dense = rows["dense"]
    assert dense.sla_met is False and dense.usd_per_million is None and dense.usd_per_month_at_target is None
    assert a.rows[0] is best  # cheapest first; SLA misses last


def test_record_without_instance_type_is_never_mapped():
    rec = make_record("nomachine", instance=None)
    rec = rec.replace(config=rec.config.replace(instance_type="c7a.large"))  # asked for; the machine does not carry it
    a = priced([rec, make_record("ok")], 100, 50, "us-east-2", BUNDLED, CATALOG, gpu_reference=False)
    assert [r.record_id for r in a.rows] == ["ok"]
    assert [u.record_id for u in a.unmapped] == ["nomachine"]
    assert a.unmapped[0].reason.startswith("unmapped: the record has no machine.instance_type")
    assert all(r.record_id != "nomachine" for r in a.candidates)


def test_record_without_throughput_is_skipped_with_reason_and_failed_runs_too():
    no_thr = make_record("nothr", thr=None)
    failed = make_record("failed", status="timeout")
    a = priced([no_thr, failed], 100, 50, "us-east-2", BUNDLED, CATALOG, gpu_reference=False)
    assert a.rows == ()
    reasons = {s.record_id: s.reason for s in a.skipped}
    assert reasons == {"nothr": "skipped: no throughput_per_s in the record (got None)", "failed": "status timeout: boom"}


def test_row_without_price_says_so_and_has_no_money():
    a = priced([make_record("x")], 100, 50, "ap-south-1", BUNDLED, CATALOG, gpu_reference=False)
    (r,) = a.rows
    assert r.price_source == "no price for c7a.large in ap-south-1"
    assert (r.usd_per_hour, r.usd_per_million, r.usd_per_month_at_target, r.instances_at_target) == (None, None, None, None)
    only_on_demand = PriceBook(quotes=tuple(q for q in BUNDLED.quotes if q.purchase_option == "on-demand"))
    spot = priced([make_record("x")], 100, 50, "us-east-2", only_on_demand, CATALOG, gpu_reference=False,
                  purchase_options=("spot",))
    assert spot.rows[0].price_source == "no spot price for c7a.large in us-east-2"


def test_server_record_supersedes_single_stream_of_same_configuration():
    single = make_record("ss", p99=40, thr=25)
    server = make_record("srv", scenario="server", server={"sla_ms": 100.0, "max_rate_per_s": 18.0, "trials": []})
    a = priced([single, server], 100, 50, "us-east-2", BUNDLED, CATALOG, gpu_reference=False)
    (r,) = a.rows
    assert (r.record_id, r.throughput_per_s, r.scenario) == ("srv", 18.0, "server")
    assert r.usd_per_million == pytest.approx(0.10264 / (18 * 3600) * 1e6)


def test_newest_record_of_a_configuration_wins():
    old = make_record("same", thr=25, created_at="2026-11-20T00:00:00+00:00")
    new = make_record("same", thr=20, created_at="2026-11-24T00:00:00+00:00")
    new = new.replace(record_id="newer")
    a = priced([new, old], 100, 50, "us-east-2", BUNDLED, CATALOG, gpu_reference=False)
    assert [r.record_id for r in a.rows] == ["newer"]


def test_gpu_reference_rows_are_labelled_and_hand_computed():
    a = priced([make_record("cpu", p99=40, thr=25)], 100, 50, "us-east-2", BUNDLED, CATALOG)
    g4 = {r.precision: r for r in a.rows if r.instance == "g4dn.xlarge"}
    fp16 = g4["fp16"]
    assert fp16.measured_or_reference == "reference" and fp16.device == "gpu" and fp16.backend == "TensorRT"
    assert fp16.batch == 1  # batch 128 fp16: 128 / 888 s = 144 ms average > 100 ms
    assert fp16.usd_per_million == pytest.approx(0.284917, abs=1e-6)  # 0.526 * 1.95 / 3.6
    assert fp16.citation.startswith("published reference: NVIDIA TensorRT repository")
    assert fp16.vcpu_or_gpu == "1x NVIDIA T4 16 GiB" and fp16.reference_grade == "published"
    int8 = g4["int8"]
    assert (int8.batch, int8.throughput_per_s) == (128, 1750)  # 73 ms average <= 100 ms
    assert (int8.sla_latency_ms, int8.sla_percentile) == (pytest.approx(128 / 1750 * 1000), "avg")
    # every GPU type with a bert-base figure (T4, L4, L40S; A10G has none for BERT-base), priced in us-east-2
    assert {r.instance for r in a.rows if r.device == "gpu"} == {f"{f}.{s}" for f in ("g4dn", "g6", "g6e")
                                                                 for s in ("xlarge", "2xlarge", "4xlarge")}
    off = priced([make_record("cpu")], 100, 50, "us-east-2", BUNDLED, CATALOG, gpu_reference=False)
    assert all(r.device == "cpu" for r in off.rows)


def test_multi_gpu_reference_is_scaled_and_labelled_an_assumption():
    from harness.pricing.catalog import InstanceType
    from harness.results.cost.catalog import CostCatalog

    quad = InstanceType("g9.12xlarge", vcpu=48, physical_cores=24, memory_gib=192, architecture="x86_64",
                        cpu_family="Test", gpu_model="T4", gpu_count=4, gpu_memory_gib=16)
    catalog = CostCatalog(instances=CATALOG.instances + (quad,), gpu_points=CATALOG.gpu_points, models=CATALOG.models,
                          families=CATALOG.families)
    book = PriceBook(quotes=BUNDLED.quotes + (PriceQuote("g9.12xlarge", "us-east-1", "on-demand", 3.9, "test", "2026-12-01"),))
    a = priced([make_record("cpu")], 100, 50, "us-east-1", book, catalog, instances=["g9.12xlarge", "c7a.large"])
    quads = [r for r in a.rows if r.instance == "g9.12xlarge" and r.precision == "int8" and r.batch == 128]
    assert quads[0].throughput_per_s == 4 * 1750 and "assumption: per-GPU figure x 4 GPUs" in quads[0].capacity_basis


def test_measured_gpu_records_replace_the_reference_for_their_instance():
    # both of known quality (the break-even takes eligible rows only): the fp16 GPU row matches the fp32 baseline
    gpu = make_record("gpu", instance="g4dn.xlarge", device="cuda:0", backend="torch", p99=12, thr=400, precision="fp16",
                      accuracy=0.9)
    cpu = make_record("cpu", p99=40, thr=25, accuracy=0.9)
    a = priced([gpu, cpu], 100, 50, "us-east-2", BUNDLED, CATALOG)
    g4 = [r for r in a.rows if r.instance == "g4dn.xlarge"]
    assert [(r.record_id, r.measured_or_reference, r.device) for r in g4] == [("gpu", "measured", "gpu")]
    assert g4[0].usd_per_million == pytest.approx(0.526 / (400 * 3600) * 1e6)
    assert any(r.instance == "g6e.xlarge" and r.measured_or_reference == "reference" for r in a.rows)
    cheapest = [b for b in a.break_even if b.scope == "cheapest GPU"][0]
    # the measured T4 is the cheapest GPU fleet at 50 req/s (one g4dn.xlarge, $383.98/month); CPU 25/s at 0.10264 vs
    # GPU 400/s at 0.526: on (125, 150] 6 x 0.10264 = 0.61584 > 0.526 -> above 125 req/s
    assert (cheapest.gpu.record_id, cheapest.cpu.record_id, cheapest.break_even.gpu_cheaper_above_qps) == ("gpu", "cpu", 125)
    assert {b.scope for b in a.break_even} == {"cheapest GPU", "vs 1x NVIDIA L4 22 GiB", "vs 1x NVIDIA L40S 45 GiB"}


def test_projection_is_off_unless_asked_and_labelled():
    recs = [make_record("p", "/v/bert-90", p99=40, thr=25)]
    plain = priced(recs, 100, 50, "us-east-2", BUNDLED, CATALOG, gpu_reference=False)
    assert {r.instance for r in plain.rows} == {"c7a.large"}
    a = priced(recs, 100, 50, "us-east-2", BUNDLED, CATALOG, gpu_reference=False, project_to=("t4g.xlarge", "c7a.xlarge"))
    est = {r.instance: r for r in a.rows if r.measured_or_reference == "estimate"}
    assert set(est) == {"t4g.xlarge", "c7a.xlarge"}
    assert est["c7a.xlarge"].throughput_per_s == 50  # 25/s x 4/2 cores
    assert est["c7a.xlarge"].citation == "estimate: scaled by physical cores from c7a.large (2 -> 4 cores)"
    assert est["t4g.xlarge"].citation.startswith("estimate: scaled by physical cores from c7a.large (2 -> 4 cores); different CPU")
    assert est["t4g.xlarge"].usd_per_million == pytest.approx(0.746667, abs=1e-6)  # 0.1344 / (50 * 3600) * 1e6
    assert all(b.cpu.measured_or_reference != "estimate" for b in a.break_even)


def test_bad_inputs_are_one_line_config_errors():
    with pytest.raises(ConfigError, match=r"^--project-to: 'g4dn.xlarge' is a GPU instance"):
        priced([], 100, 50, "us-east-2", BUNDLED, CATALOG, project_to=("g4dn.xlarge",))
    with pytest.raises(ConfigError, match=r"^--project-to: unknown instance type 'c9z.large'; close valid choices"):
        priced([], 100, 50, "us-east-2", BUNDLED, CATALOG, project_to=("c9z.large",))
    with pytest.raises(ConfigError, match=r"^--sla-ms: 0"):
        priced([], 0, 50, "us-east-2", BUNDLED, CATALOG)
    with pytest.raises(ConfigError, match=r"^--region: 'Ohio' is not an AWS region code"):
        priced([], 100, 50, "Ohio", BUNDLED, CATALOG)
    with pytest.raises(ConfigError, match=r"^unknown purchase option 'reserved'; valid choices: on-demand, spot$"):
        priced([], 100, 50, "us-east-2", BUNDLED, CATALOG, purchase_options=("reserved",))


def test_user_quotes_replace_prices():
    book = PriceBook(quotes=(PriceQuote("c7a.large", "us-east-2", "on-demand", 0.05, "my quote", "2026-11-01"),))
    a = priced([make_record("x", p99=40, thr=25)], 100, 50, "us-east-2", book, CATALOG, gpu_reference=False)
    assert a.rows[0].usd_per_million == pytest.approx(0.05 / (25 * 3600) * 1e6) and a.rows[0].price_source == "my quote"


def test_analyze_reads_the_catalog_passed_in_and_opens_no_file(monkeypatch):
    import builtins
    import io

    from harness.pricing.catalog import InstanceType
    from harness.pricing.gpu_reference import ReferencePoint
    from harness.results.cost.catalog import CostCatalog

    small = InstanceType("x9.large", vcpu=2, physical_cores=2, memory_gib=4, architecture="x86_64", cpu_family="Test")
    large = InstanceType("x9.xlarge", vcpu=4, physical_cores=4, memory_gib=8, architecture="x86_64", cpu_family="Test")
    gpu = InstanceType("y9.xlarge", vcpu=4, physical_cores=2, memory_gib=16, architecture="x86_64", cpu_family="Test",
                       gpu_model="T9", gpu_count=1, gpu_memory_gib=8)
    point = ReferencePoint(model="bert-base", gpu="T9", seq_len=128, batch=1, precision="fp16", throughput_per_s=100.0,
                           latency_ms=10.0, latency_basis="test figure", latency_bound_ms=None, scenario="single-stream",
                           source="test source")
    catalog = CostCatalog(instances=(small, large, gpu), gpu_points={("bert-base", "T9"): (point,)},
                          models=frozenset({"bert-base"}))
    book = PriceBook(quotes=tuple(PriceQuote(name, "us-east-2", "on-demand", usd, "test quote", "2026-11-01")
                                  for name, usd in (("x9.large", 0.1), ("x9.xlarge", 0.2), ("y9.xlarge", 0.9))))

    def refuse(*args, **kwargs):
        raise AssertionError(f"analyze opened a file: {args[:1]}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    a = priced([make_record("r", instance="x9.large", p99=40, thr=25, accuracy=0.9)], 100, 50, "us-east-2", book,
                catalog, project_to=("x9.xlarge",))
    rows = {r.instance: r for r in a.rows}
    assert set(rows) == {"x9.large", "x9.xlarge", "y9.xlarge"}
    assert rows["x9.large"].vcpu_or_gpu == "2 vCPU (2 cores)"
    assert rows["x9.large"].isa_mismatch is None  # the test type records no ISA: never guessed
    assert rows["x9.large"].usd_per_million == pytest.approx(0.1 / (25 * 3600) * 1e6)
    assert (rows["x9.xlarge"].measured_or_reference, rows["x9.xlarge"].throughput_per_s) == ("estimate", 50.0)  # x 4/2
    assert rows["y9.xlarge"].citation == "published reference: test source"
    assert rows["y9.xlarge"].usd_per_million == pytest.approx(2.5)  # 0.9 / (100 * 3600) * 1e6
    # per 100 req/s the CPU fleet costs 4 x 0.1 = 0.4 $/h against 0.9 $/h for one GPU: never cheaper
    assert [b.break_even.gpu_cheaper_above_qps for b in a.break_even] == [None]
    with pytest.raises(ConfigError, match=r"^--project-to: unknown instance type 'x9.larg'; close valid choices: x9.large"):
        priced([], 100, 50, "us-east-2", book, catalog, project_to=("x9.larg",))


def test_catalog_refuses_gpu_figures_of_a_model_it_did_not_load():
    points, why = CATALOG.gpu_figures("bert-base", "T4", 128, None)
    assert points and why is None  # loaded: the published T4 figures
    with pytest.raises(ValueError, match="'resnet50' were not loaded"):
        CATALOG.gpu_figures("resnet50", "T4", 224, None)


def test_every_model_of_a_family_gets_gpu_rows_derived_by_its_counted_gflops():
    """distilbert and a brought MiniLM checkpoint have no published figure: theirs are bert-base's scaled by the GFLOPs
    their records carry (11.17 and 1.40 GFLOP against bert-base's 22.35 at sequence 128); a model without a family
    says so in one line."""
    catalog = load_catalog(["distilbert", "minilm-sst2", "tree-wine"])
    distil = make_record("d", model="distilbert", p99=40, thr=25)
    distil = distil.replace(metrics=distil.metrics.replace(flops_per_inference=11_174_808_576))
    minilm = make_record("m", model="minilm-sst2", seq_len=64, p99=10, thr=100)
    minilm = minilm.replace(metrics=minilm.metrics.replace(flops_per_inference=1_396_999_680))
    tree = make_record("t", model="tree-wine", seq_len=13, p99=1, thr=1000)
    a = priced([distil, minilm, tree], 100, 50, "us-east-2", BUNDLED, catalog, instances=["c7a.large", "g4dn.xlarge"])
    d8 = [r for r in a.rows if r.model == "distilbert" and r.instance == "g4dn.xlarge" and r.precision == "int8"]
    assert d8[0].throughput_per_s == pytest.approx(1750 * 22.348434432 / 11.174808576)  # 2x bert-base's 1750/s
    assert d8[0].citation.startswith("derived: scaled by GFLOPs from bert-base (22.3 -> 11.2 GFLOP)")
    assert (d8[0].measured_or_reference, d8[0].reference_grade, d8[0].eligible) == ("reference", "derived", True)
    m1 = [r for r in a.rows if r.model == "minilm-sst2" and r.device == "gpu" and r.precision == "fp16"]
    # seq 64 takes the nearest published sequence (128): 1.95 ms x 1.397 / 22.348 at batch 1
    assert m1 and m1[0].seq_len == 64
    assert {r.model for r in a.rows if r.device == "gpu"} == {"distilbert", "minilm-sst2"}
    assert a.no_gpu_figure == ("tree-wine: no GPU figure: no published figure for it and no family to scale one from "
                               "(families with published figures: bert-base (bert, distilbert, minilm, roberta); "
                               "resnet50 (resnet))",)


# ------------------------------------------------------------------------------------------------ the quality gate


def gated(records, **options):
    return priced(records, 100, 50, "us-east-2", BUNDLED, CATALOG, gpu_reference=False, **options)


def engine_quality(accuracy, task="sst2", split="dev", examples=872):
    return Quality(accuracy=accuracy, task=task, split=split, examples=examples, source="engine")


def test_a_cheaper_pruned_row_2_5_points_worse_is_chosen_only_within_a_3_point_budget():
    dense = make_record("dense", p99=40, thr=25, accuracy=0.900)  # 0.10264 / (25 * 3600) * 1e6 = 1.140444 $/1M
    pruned = make_record("p90", "/v/bert-90", p99=40, thr=50, backend="deepsparse", accuracy=0.875)  # 0.570222 $/1M
    a = gated([dense, pruned])
    rows = {r.record_id: r for r in a.rows}
    assert rows["p90"].accuracy_drop == pytest.approx(2.5)  # (0.900 - 0.875) * 100 against the onnxruntime dense row
    assert (rows["p90"].quality_source, rows["p90"].quality_status, rows["p90"].eligible) == ("engine", "budget exceeded", False)
    assert rows["p90"].quality_baseline == "dense fp32 onnxruntime [record dense]: accuracy 0.9"
    assert rows["p90"].quality_note.startswith("2.5 points below the baseline, beyond the 1-point budget")
    assert (rows["dense"].quality_status, rows["dense"].accuracy_drop, rows["dense"].eligible) == ("ok", 0.0, True)
    assert rows["dense"].quality_baseline == "itself (dense fp32)"
    assert a.rows[0].record_id == "p90"  # still shown, cheapest first
    assert a.cheapest("bert-base", "on-demand").record_id == "dense"
    wide = gated([dense, pruned], max_quality_drop=3)
    best = wide.cheapest("bert-base", "on-demand")
    assert (best.record_id, best.quality_status, best.eligible) == ("p90", "ok", True)
    assert best.usd_per_million == pytest.approx(0.570222, abs=1e-6)


def test_unknown_quality_is_never_chosen_unless_allowed_and_the_budget_still_holds():
    dense = make_record("dense", p99=40, thr=25, accuracy=0.9)  # 1.140444 $/1M
    teacher = record("teacher", variant="/v/bert-90", p99=40, thr=50, top1=0.97, quality_source="teacher", n=120)  # 0.570222
    latency_only = make_record("latency", "/v/bert-80", p99=40, thr=40)  # no quality at all: 0.712778 $/1M
    over = make_record("over", "/v/bert-95", p99=40, thr=100, accuracy=0.85)  # 5 points worse: 0.285111 $/1M
    records = [dense, teacher, latency_only, over]
    a = gated(records)
    rows = {r.record_id: r for r in a.rows}
    t = rows["teacher"]
    assert (t.quality_source, t.quality_status, t.accuracy, t.top1_agreement, t.eligible) == ("teacher", "unknown", None, 0.97, False)
    assert t.quality_note == "agreement only: top-1 agreement 0.97 with the dense fp32 model on generated inputs; accuracy unknown"
    lat = rows["latency"]
    assert (lat.quality_source, lat.quality_status, lat.eligible) == ("none", "unknown", False)
    assert lat.quality_note.startswith("latency-only: no quality measured (run with --task); seeded random weights")
    assert a.cheapest("bert-base", "on-demand").record_id == "dense"
    allowed = gated(records, allow_unknown_quality=True)
    rows = {r.record_id: r for r in allowed.rows}
    assert allowed.cheapest("bert-base", "on-demand").record_id == "teacher"  # 0.570 < 0.713 < 1.140; "over" never
    assert (rows["teacher"].quality_status, rows["teacher"].eligible) == ("unknown", True)  # still labelled unknown
    assert rows["teacher"].quality_note.endswith("; allowed by --allow-unknown-quality")
    assert (rows["over"].quality_status, rows["over"].eligible) == ("budget exceeded", False)


def test_break_even_takes_only_eligible_rows():
    cpu = make_record("cpu", p99=40, thr=25, accuracy=0.9)
    pruned = make_record("p95", "/v/bert-95", p99=40, thr=100, accuracy=0.85)  # 5 points worse
    gpu = make_record("gpu", instance="g4dn.xlarge", device="cuda:0", backend="torch", p99=12, thr=400, precision="fp16",
                      accuracy=0.9)
    a = priced([cpu, pruned, gpu], 100, 50, "us-east-2", BUNDLED, CATALOG, instances=["c7a.large", "g4dn.xlarge"])
    (b,) = a.break_even
    # CPU 25/s at 0.10264 $/h vs GPU 400/s at 0.526 $/h: above 125 req/s 6 x 0.10264 = 0.61584 > 0.526. Against the
    # pruned 100/s row the GPU is never cheaper (per 400 req/s: 4 x 0.10264 = 0.41056 < 0.526), so that row is not the CPU side
    assert (b.cpu.record_id, b.gpu.record_id, b.break_even.gpu_cheaper_above_qps) == ("cpu", "gpu", 125)
    wide = priced([cpu, pruned, gpu], 100, 50, "us-east-2", BUNDLED, CATALOG, instances=["c7a.large", "g4dn.xlarge"],
                   max_quality_drop=5)
    assert [(b.cpu.record_id, b.break_even.gpu_cheaper_above_qps) for b in wide.break_even] == [("p95", None)]
    unknown_gpu = make_record("gpu", instance="g4dn.xlarge", device="cuda:0", backend="torch", p99=12, thr=400, precision="fp16")
    assert priced([cpu, unknown_gpu], 100, 50, "us-east-2", BUNDLED, CATALOG,
                   instances=["c7a.large", "g4dn.xlarge"]).break_even == ()


def test_baseline_is_the_dense_fp32_record_of_the_same_task_and_split_same_engine_first():
    recs = [
        record("ort-dense", backend="onnxruntime", quality=engine_quality(0.90), created_at="2026-11-20T00:00:00+00:00"),
        record("ov-dense", backend="openvino", quality=engine_quality(0.92), created_at="2026-11-21T00:00:00+00:00"),
        record("ov-p", backend="openvino", variant="/v/p", quality=engine_quality(0.915), thr=30),  # vs openvino 0.92
        record("torch-p", backend="torch", variant="/v/p", quality=engine_quality(0.905), thr=30),  # no torch dense: newest
        record("ort-int8", backend="onnxruntime", precision="int8", quality=engine_quality(0.893), thr=40),  # vs 0.90
        record("ort-p-imdb", backend="onnxruntime", variant="/v/p", thr=30,
               quality=engine_quality(0.95, task="text-classification", split="imdb.csv")),  # no dense on that task
    ]
    rows = {r.record_id: r for r in gated(recs).rows}
    assert rows["ov-p"].accuracy_drop == pytest.approx(0.5) and rows["ov-p"].quality_status == "ok"
    assert rows["ov-p"].quality_baseline == "dense fp32 openvino [record ov-dense]: accuracy 0.92 on sst2/dev"
    assert rows["torch-p"].accuracy_drop == pytest.approx(1.5) and rows["torch-p"].quality_status == "budget exceeded"
    assert rows["ort-int8"].accuracy_drop == pytest.approx(0.7) and rows["ort-int8"].quality_task == "sst2/dev"
    imdb = rows["ort-p-imdb"]
    assert (imdb.quality_status, imdb.accuracy, imdb.accuracy_drop) == ("unknown", 0.95, None)
    assert imdb.quality_note.startswith("no baseline: no dense fp32 bert-base record with accuracy on "
                                        "text-classification/imdb.csv")


def test_manifest_accuracy_counts_only_with_the_manifests_own_dense_accuracy():
    def variant(rid, details, engine=None):
        r = make_record(rid, f"/v/{rid}", p99=40, thr=30)
        q = Quality(accuracy=0.88, examples=872, source="manifest", details=details)
        return r.replace(metrics=r.metrics.replace(manifest_quality=q, quality=engine))

    both = {"accuracy": 0.88, "n": 872, "dense": {"accuracy": 0.90, "n": 872}}
    recs = [variant("m-dense", both), variant("m-alone", {"accuracy": 0.88, "n": 872}),
            variant("engine-first", both, engine=engine_quality(0.9, task=None, split=None)),
            make_record("dense", p99=40, thr=20, accuracy=0.9)]
    rows = {r.record_id: r for r in gated(recs, max_quality_drop=2.5).rows}
    m = rows["m-dense"]
    assert (m.quality_source, m.quality_status, m.eligible) == ("manifest", "ok", True)
    assert m.accuracy_drop == pytest.approx(2.0)  # (0.90 - 0.88) * 100 from the same manifest
    assert m.quality_baseline == "the manifest's dense model: accuracy 0.9"
    assert "measured in torch when the variant was made, not on this engine" in m.quality_note
    alone = rows["m-alone"]
    assert (alone.quality_source, alone.quality_status, alone.eligible) == ("manifest", "unknown", False)
    assert alone.quality_note.startswith("no baseline: the manifest gives no dense accuracy")
    first = rows["engine-first"]  # accuracy measured on the engine wins over the manifest's
    assert (first.quality_source, first.accuracy, first.accuracy_drop) == ("engine", 0.9, pytest.approx(0.0))


def test_the_dense_fp32_model_is_its_own_baseline_on_every_engine_accuracy_measured_or_not():
    random_weights = [make_record("ort", p99=40, thr=25), make_record("ov", backend="openvino", p99=40, thr=30),
                      make_record("int8", backend="openvino", precision="int8", p99=20, thr=60)]
    parity_failed = make_record("bad", backend="deepsparse", p99=40, thr=35)
    from harness.contracts import Parity

    parity_failed = parity_failed.replace(metrics=parity_failed.metrics.replace(
        parity=Parity(max_abs_diff=1.0, tolerance=0.001, ok=False)))
    rows = {r.record_id: r for r in gated(random_weights + [parity_failed]).rows}
    for rid in ("ort", "ov"):
        r = rows[rid]
        assert (r.quality_source, r.quality_status, r.accuracy_drop, r.eligible, r.accuracy) == (
            "baseline", "ok", 0.0, True, None)
        assert r.quality_note == "the dense fp32 model is its own baseline: drop 0 by definition (accuracy not measured)"
    assert (rows["int8"].quality_source, rows["int8"].quality_status, rows["int8"].eligible) == ("none", "unknown", False)
    assert (rows["bad"].quality_source, rows["bad"].eligible) == ("none", False)  # parity failed: not a baseline
    measured = {r.record_id: r for r in gated([make_record("ort", p99=40, thr=25, accuracy=0.91)]).rows}["ort"]
    assert (measured.quality_source, measured.accuracy, measured.accuracy_drop) == ("baseline", 0.91, 0.0)


def test_published_gpu_figures_hold_drop_0_at_float_precisions_and_at_most_1_point_in_int8():
    rows = {r.precision: r for r in priced([make_record("cpu", p99=40, thr=25)], 100, 50, "us-east-2", BUNDLED,
                                           CATALOG).rows if r.instance == "g4dn.xlarge"}
    assert (rows["fp16"].quality_source, rows["fp16"].quality_status, rows["fp16"].accuracy_drop, rows["fp16"].eligible) == (
        "reference", "ok", 0.0, True)
    assert rows["fp16"].quality_note == "assumed: fp16 of the dense weights is the model (drop 0)"
    assert (rows["int8"].quality_status, rows["int8"].eligible, rows["int8"].accuracy_drop) == ("ok", True, None)
    assert rows["int8"].quality_note.startswith("assumed: int8 held to MLPerf's 99%-of-fp32 accuracy target, at most 1")
    strict = {r.precision: r for r in priced([make_record("cpu", p99=40, thr=25)], 100, 50, "us-east-2", BUNDLED, CATALOG,
                                             max_quality_drop=0.5).rows if r.instance == "g4dn.xlarge"}
    assert (strict["int8"].quality_status, strict["int8"].eligible, strict["fp16"].eligible) == ("budget exceeded", False,
                                                                                                  True)
    assert strict["int8"].quality_note.startswith("up to 1 point below the baseline, beyond the 0.5-point budget")


def test_quality_budget_must_be_a_number_of_points():
    with pytest.raises(ConfigError, match=r"^--max-quality-drop: -1; valid: a number of accuracy points >= 0$"):  # one line
        gated([], max_quality_drop=-1)
    with pytest.raises(ConfigError, match=r"^--max-quality-drop: nan"):
        gated([], max_quality_drop=float("nan"))
    assert gated([], max_quality_drop=0).gate.max_drop_points == 0.0
