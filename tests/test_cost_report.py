"""Cost reports: the answer per model (table, chart, one sentence), CSV columns and values (schema 4, older versions
read through migrations), HTML escaping and embedded plots, the seed's verdict, the CLI, and the page rendered by
headless Chromium."""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from harness.contracts import Quality
from harness.pricing import load_price_book
from harness.results.cost.answer import answers
from harness.results.cost.arithmetic import pareto_front
from harness.results.cost.query import CostQuery
from harness.results.report.cost_answer import ANSWER_COLUMNS, answer_rows, answer_sentences
from harness.results.report.cost_csv import COST_CSV_SCHEMA_VERSION, CSV_COLUMNS, read_cost_csv
from harness.results.report.cost_plots import chart_options
from harness.results.report.cost_report import cost_analysis, write_cost_report, write_seed_example
from tests.helpers.browser import headless
from tests.helpers.records import record

BUNDLED = load_price_book(snapshot_dir=None)
FIX = Path(__file__).parent / "fixtures" / "pricing"
Q = CostQuery(sla_ms=100, qps=50, region="us-east-2")
CPU_ONLY = Q.replace(gpu_reference=False)
MILAN = dict(architecture="x86_64", cpu_vendor="AuthenticAMD", cpu_family_model="25/1", logical_cpus=2,
             isa_flags=("avx2", "fma"))
GENOA = dict(MILAN, cpu_family_model="25/17",
             isa_flags=("avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f", "avx512vl", "avx_vnni", "fma"))


def make_record(rid, variant=None, p99=50.0, thr=20.0, instance="c7a.large", batch=1, backend="onnxruntime",
                model="bert-base", device="cpu", accuracy=None, sparsity=None, precision="fp32", threads=2, seq_len=128,
                machine=None, flops=None, p50=None):
    """A run record as the runner writes it (the fields the cost code reads)."""
    r = record(rid, variant=variant, p99=p99, thr=thr, instance=instance, batch=batch, backend=backend, model=model,
               device=device, accuracy=accuracy, sparsity=sparsity, precision=precision, n=120, threads=threads,
               seq_len=seq_len, backend_version="1.8.0", p50=p50, config_hash=rid)
    if machine:
        r = r.replace(machine=r.machine.replace(**machine))
    if flops:
        r = r.replace(metrics=r.metrics.replace(flops_per_inference=flops))
    return r


def seed_records():
    return [
        make_record("dense", None, p99=118, thr=8.8, backend="deepsparse", sparsity=0.0, accuracy=0.91),
        make_record("p90", "/variants/bert-base-90", p99=40, thr=27, backend="deepsparse", sparsity=0.9, accuracy=0.89),
        make_record("p90-ort", "/variants/bert-base-90", p99=128, thr=8.1, backend="onnxruntime", sparsity=0.9, accuracy=0.89),
    ]


def read_csv(path: Path) -> tuple[str, list[dict]]:
    """(the header line, the rows); the header is the file's first line."""
    lines = path.read_text().splitlines()
    return lines[0], list(csv.DictReader(lines))


def report(records, tmp_path, query=Q, **kw):
    return write_cost_report(records, tmp_path, query, book=kw.pop("book", BUNDLED), **kw)


def analysis_of(records, query=Q):
    return cost_analysis(records, query, book=BUNDLED)


# ------------------------------------------------------------------------------------------------ CSV


def test_csv_columns_exactly_and_hand_computed_values(tmp_path):
    paths = report(seed_records(), tmp_path, CPU_ONLY)
    assert set(paths) == {"markdown", "html", "csv", "png"} and all(p.exists() for p in paths.values())
    header, rows = read_csv(paths["csv"])
    assert tuple(header.split(",")) == CSV_COLUMNS
    assert COST_CSV_SCHEMA_VERSION == 4 and {r["schema_version"] for r in rows} == {"4"}
    assert CSV_COLUMNS[:31] == (
        "schema_version", "model", "variant", "backend", "engine_version", "precision", "instance", "region", "purchase_option",
        "usd_per_hour", "price_source", "price_date", "vcpu_or_gpu", "batch", "seq_len", "throughput_per_s", "p50_ms",
        "p99_ms", "sla_met", "usd_per_million", "usd_per_month_at_target", "measured_or_reference", "accuracy",
        "accuracy_drop", "top1_agreement", "quality_source", "quality_status", "eligible", "quality_task",
        "quality_baseline", "quality_note")  # version 3's columns, in order; version 4 appends
    assert CSV_COLUMNS[31:] == ("instances_at_target", "sla_latency_ms", "sla_percentile", "reference_grade", "isa",
                                "measured_isa", "instance_isa", "cpu_match", "capacity_basis", "citation")
    first = rows[0]
    assert (first["variant"], first["backend"], first["instance"], first["usd_per_hour"], first["throughput_per_s"]) == (
        "bert-base-90", "deepsparse", "c7a.large", "0.10264", "27.0")
    assert first["usd_per_million"] == "1.055967"  # 0.10264 / (27 * 3600) * 1e6 = 1.0559671
    assert first["usd_per_month_at_target"] == "149.8544" and first["instances_at_target"] == "2"  # ceil(50/27) x 0.10264 x 730
    assert (first["sla_met"], first["measured_or_reference"], first["vcpu_or_gpu"]) == ("true", "measured", "2 vCPU (2 cores)")
    assert (first["sla_latency_ms"], first["sla_percentile"], first["capacity_basis"]) == ("40.0", "p99", "p99 40 ms <= 100 ms")
    assert float(first["p50_ms"]) == 32.0 and float(first["p99_ms"]) == 40.0 and first["price_date"] == "2026-12-05"
    assert (first["isa"], first["instance_isa"]) == ("unknown", "avx2 avx512 vnni bf16")  # no ISA flags in the record
    missed = [r for r in rows if r["sla_met"] == "false"]
    assert len(missed) == 2 and all(r["usd_per_million"] == "" and r["usd_per_month_at_target"] == "" for r in missed)
    # quality: 0.89 against the dense fp32 deepsparse record's 0.91 = 2 points, beyond the default 1-point budget
    assert (first["engine_version"], first["accuracy"], first["accuracy_drop"], first["quality_source"],
            first["quality_status"], first["eligible"]) == ("1.8.0", "0.89", "2.0", "engine", "budget exceeded", "false")
    assert first["quality_baseline"] == "dense fp32 deepsparse [record dense]: accuracy 0.91"
    dense = next(r for r in rows if r["variant"] == "dense")
    assert (dense["accuracy_drop"], dense["quality_source"], dense["quality_status"], dense["eligible"]) == (
        "0.0", "baseline", "ok", "false")  # its own baseline; not eligible only because it misses the SLA


def test_csv_row_without_price_says_so_never_zero(tmp_path):
    paths = report([make_record("x", instance="c7a.large")], tmp_path, Q.replace(region="ap-south-1"))
    _, rows = read_csv(paths["csv"])
    (row,) = rows
    assert row["price_source"] == "no price for c7a.large in ap-south-1"
    assert row["usd_per_hour"] == row["usd_per_million"] == row["usd_per_month_at_target"] == ""
    md = paths["markdown"].read_text()
    assert "## No price (excluded from $ columns)" in md and "no price for c7a.large in ap-south-1" in md


def test_csv_reads_back_with_pandas_and_no_options(tmp_path):
    import pandas

    paths = report(seed_records(), tmp_path, CPU_ONLY)
    frame = pandas.read_csv(paths["csv"])
    assert tuple(frame.columns) == CSV_COLUMNS and len(frame) == 3
    assert frame["schema_version"].tolist() == [4, 4, 4]
    first = frame.iloc[0]
    assert first["usd_per_hour"] == 0.10264 and first["throughput_per_s"] == 27.0
    assert first["usd_per_million"] == 1.055967 and first["usd_per_month_at_target"] == 149.8544
    assert frame["sla_met"].tolist() == [True, False, False]
    assert frame["usd_per_million"].isna().tolist() == [False, True, True]  # SLA missed: empty, never zero


def test_cost_csv_of_every_version_reads_as_the_current_contract(tmp_path):
    paths = report(seed_records(), tmp_path, CPU_ONLY)
    now = read_cost_csv(paths["csv"].read_text())
    assert [(r.variant, r.usd_per_million, r.sla_met, r.eligible, r.instances_at_target) for r in now] == [
        ("bert-base-90", 1.055967, True, False, 2), ("bert-base-90", None, False, False, None),
        ("dense", None, False, False, None)]
    (v1a, v1b) = read_cost_csv((FIX / "cost-v1.csv").read_text())  # the version in a comment line
    assert (v1a.schema_version, v1a.engine_version, v1a.usd_per_million, v1a.sla_met, v1a.accuracy, v1a.isa) == (
        4, "1.8.0", 1.055967, True, None, None)  # backend_version became engine_version; later columns empty
    assert (v1b.measured_or_reference, v1b.sla_met, v1b.usd_per_million) == ("reference", None, None)  # "unknown"
    (v2,) = read_cost_csv((FIX / "cost-v2.csv").read_text())
    assert (v2.variant, v2.throughput_per_s, v2.sla_met, v2.eligible) == ("dense", 8.8, False, None)
    (v3,) = read_cost_csv((FIX / "cost-v3.csv").read_text())
    assert (v3.quality_status, v3.accuracy_drop, v3.eligible, v3.quality_note, v3.capacity_basis) == (
        "budget exceeded", 2.0, False, "2 points below the baseline, beyond the 1-point budget", None)
    future = "schema_version,model\n5,bert-base\n"
    with pytest.raises(Exception, match=r"^cost.csv row 1: schema_version 5 was written by a newer harness"):
        read_cost_csv(future)


# ------------------------------------------------------------------------------------------------ the answer


def gate_records():
    """Dense onnxruntime at 0.900 (1.140444 $/1M) and a pruned DeepSparse row 2.5 points worse at half the price."""
    return [make_record("dense", None, p99=40, thr=25, accuracy=0.900),
            make_record("p90", "/variants/bert-base-90", p99=40, thr=50, backend="deepsparse", accuracy=0.875)]


def test_the_answer_table_and_sentence_hand_computed(tmp_path):
    """CPU: dense 25/s, ceil(50/25) = 2 x c7a.large x 0.10264 x 730 = $149.85/month (the pruned row is cheaper and 2.5
    points worse: not eligible). GPU: the T4's published int8 1750/s at batch 128, 1 x 0.526 x 730 = $383.98/month,
    the cheapest GPU fleet at 50 req/s. Ratio 383.98 / 149.8544 = 2.562; break-even: 6 x 0.10264 = 0.61584 $/h >
    0.526 $/h above 5 x 25 = 125 req/s, and the one T4 stays cheaper up to 1750/s."""
    analysis, catalog = cost_analysis(gate_records(), Q, book=BUNDLED)
    (a,) = answers(analysis, catalog)
    assert (a.cpu.record_id, a.gpu.instance, a.gpu.precision, a.gpu.batch) == ("dense", "g4dn.xlarge", "int8", 128)
    assert a.ratio == pytest.approx(383.98 / 149.8544) and a.break_even.gpu_cheaper_above_qps == 125
    (row,) = answer_rows(analysis, [a])
    assert tuple(row) == ANSWER_COLUMNS
    assert list(row.values()) == [
        "bert-base", "c7a.large · ONNX Runtime 1.8.0 · fp32 · dense [measured]",
        "g4dn.xlarge · TensorRT · int8 · dense · batch 128 [published]", "$149.85 (2 x)", "$383.98 (1 x)",
        "CPU 2.56x cheaper", "CPU p99 40 ms <= 100; GPU avg 73.1 ms <= 100", "CPU baseline (drop 0); GPU assumed <= 1 pt",
        "GPU cheaper above 125 req/s"]
    assert answer_sentences(analysis, [a]) == [
        "bert-base: CPU costs 2.6x less than a T4 (g4dn.xlarge) at 50 req/s ($149.85/month for 2 x c7a.large against "
        "$383.98/month for 1 x g4dn.xlarge); the GPU wins above 125 req/s."]
    wide = answers(cost_analysis(gate_records(), Q.replace(max_quality_drop=3), book=BUNDLED)[0])[0]
    # the pruned row within 3 points: 50/s, 1 x c7a.large = $74.93/month; 383.98 / 74.9272 = 5.12; the GPU is cheaper
    # only where 4 CPUs cost more than the T4: above 5 x 50 = 250 req/s (6 x 0.10264 > 0.526)
    assert (wide.cpu.record_id, round(wide.ratio, 3), wide.break_even.gpu_cheaper_above_qps) == ("p90", 5.125, 250)
    paths = report(gate_records(), tmp_path)
    html = paths["html"].read_text()
    assert html.index('<table class="answer"') < html.index('<figure class="chart"') < html.index("<h2>")
    assert "bert-base: CPU costs 2.6x less than a T4 (g4dn.xlarge) at 50 req/s" in html
    md = paths["markdown"].read_text()
    assert md.index("| model | cheapest CPU option |") < md.index("![$/month at the target rate per option](cost.png)")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def zoo_records(machine=None):
    """Random-init zoo models, dense fp32 on two engines each, with the FLOPs the harness counted."""
    flops = {("bert-base", 128): 22_348_434_432, ("distilbert", 128): 11_174_808_576, ("minilm", 128): 2_869_200_384,
             ("resnet50", 224): 8_178_368_512}
    out = []
    for (model, seq), f in flops.items():
        for backend, k in (("onnxruntime", 2.5e11), ("openvino", 3e11)):  # items/s ~ 1/FLOPs; p99 = 0.8 s / rate
            out.append(make_record(f"{model}-{backend}", model=model, seq_len=seq, backend=backend, thr=k / f,
                                   p99=800 / (k / f), flops=f, machine=machine))
    return out


def test_a_report_over_random_init_zoo_records_answers_cpu_against_gpu_for_every_model(tmp_path):
    analysis, catalog = cost_analysis(zoo_records(), Q, book=BUNDLED)
    found = {a.model: a for a in answers(analysis, catalog)}
    assert set(found) == {"bert-base", "distilbert", "minilm", "resnet50"}
    for a in found.values():
        assert a.cpu is not None and a.gpu is not None and a.ratio and a.break_even, a.model
        assert (a.cpu.quality_source, a.cpu.backend) == ("baseline", "openvino")  # the faster engine, drop 0
    assert found["bert-base"].gpu.reference_grade == "published"
    assert {found[m].gpu.reference_grade for m in ("distilbert", "minilm")} == {"derived"}
    assert found["minilm"].gpu.citation.startswith("derived: scaled by GFLOPs from bert-base (22.3 -> 2.87 GFLOP)")
    assert found["resnet50"].gpu.instance == "g6.xlarge"  # the L4's MLPerf server figure: p99 under 15 ms
    styles = {(r.model, r.device, style) for r, _, style in chart_options(analysis)}
    assert {("minilm", "gpu", "derived"), ("bert-base", "gpu", "published"), ("minilm", "cpu", "measured")} <= styles
    sentences = answer_sentences(analysis, list(found.values()))
    assert all(re.match(r"^[\w-]+: (CPU costs [\d.]+x less than|An? \w+ \([\w.]+\) costs)", s) for s in sentences), sentences


def test_no_cpu_option_meets_the_sla_says_by_how_much_and_what_would():
    """Dense at 1 thread: p50 300 ms; at 2 threads p50 160 ms, p99 200 ms: 100 ms over. The measured scaling 300/160 =
    1.875x for 2x threads (exponent ln 1.875 / ln 2 = 0.907) puts p99 under 100 ms at 2 x 2^(1/0.907) = 4.3 -> 5 cores:
    the smallest c7a with that many is c7a.2xlarge (8). A pruned row of unknown quality meets the SLA: named."""
    recs = [make_record("t1", p99=330, p50=300, thr=3.3, threads=1), make_record("t2", p99=200, p50=160, thr=6.0),
            make_record("m90", "/v/bert-base-90", p99=40, thr=30, backend="deepsparse")]
    analysis, catalog = cost_analysis(recs, Q.replace(instances=("c7a.large", "g4dn.xlarge")), book=BUNDLED)
    (a,) = answers(analysis, catalog)
    assert a.cpu is None and (a.miss.row.record_id, a.miss.latency_ms, a.miss.over_ms) == ("t2", 200.0, 100.0)
    assert a.miss.fixes == (
        "bert-base-90 fp32 on deepsparse meets it (p99 40 ms) but is of unknown quality (latency-only: no quality measured "
        "(run with --task); seeded random weights (no --checkpoint): a random classifier, its accuracy is unknown); "
        "measure its accuracy with --task, or widen --max-quality-drop",
        "projection, not measured: at the measured thread scaling (measured 1 -> 2 threads: 1.88x) about 5 cores would "
        "bring p99 under 100 ms; the smallest c7a type with that many is c7a.2xlarge (8 cores): confirm with a fleet run "
        "on it (harness fleet plan MATRIX --instance-types c7a.2xlarge)")
    # the chart: the T4 fleet, and the closest CPU row greyed, priced as if it met the SLA (ceil(50 / 6) = 9 x 0.10264 x 730)
    assert [(r.record_id, round(value, 2), style) for r, value, style in chart_options(analysis)] == [
        (None, 383.98, "published"), ("t2", 674.34, "miss")]
    (sentence,) = answer_sentences(analysis, [a])
    assert sentence.startswith("bert-base: a T4 (g4dn.xlarge) at $383.98 (1 x) a month at 50 req/s; no CPU option: no CPU "
                               "row within the SLA is of known quality")
    assert "misses the 100 ms SLA by 100 ms (p99 200 ms): what would meet it: bert-base-90 fp32" in sentence


def test_cpu_rows_measured_on_another_cpu_carry_isa_mismatch_and_name_the_matching_type(tmp_path):
    milan = make_record("milan", p99=20, thr=60, machine=MILAN | {"id": "milan"})
    genoa = make_record("genoa", backend="openvino", p99=20, thr=50, machine=GENOA | {"id": "genoa"})
    paths = report([milan, genoa], tmp_path)
    _, rows = read_csv(paths["csv"])
    isa = {r["backend"]: (r["isa"], r["measured_isa"], r["instance_isa"], r["cpu_match"]) for r in rows
           if r["instance"] == "c7a.large"}
    assert isa == {"onnxruntime": ("isa mismatch", "avx2", "avx2 avx512 vnni bf16", "c6a.large"),
                   "openvino": ("match", "avx2 avx512 vnni bf16", "avx2 avx512 vnni bf16", "")}
    md = paths["markdown"].read_text()
    assert ("CPU measured on a CPU with avx2 and priced as c7a.large (avx2 avx512 vnni bf16): isa mismatch, so the CPU "
            "figure is for another CPU than the one priced; that CPU matches c6a.large.") in md
    assert "| c7a.large (isa mismatch) |" in md
    assert "c7a.large (avx2 avx512 vnni bf16): rows of bert-base were measured on a CPU with avx2; that CPU matches c6a.large" in md


def test_a_demo_like_report_answers_and_says_why_the_rest_is_left_out(tmp_path):
    """The demo's zoo rows: dense with no --task (its own baseline: chosen) and a variant pruned without data whose
    manifest gives agreement only (unknown: shown with its price, never chosen)."""
    dense = make_record("dense-ds", None, p99=90, thr=11, backend="deepsparse")
    pruned = make_record("m90", "/cache/variants/bert-base-magnitude-90", p99=40, thr=30, backend="deepsparse")
    manifest = Quality(top1_agreement=0.62, examples=256, source="manifest", details={"top1_agreement": 0.62, "n": 256})
    pruned = pruned.replace(metrics=pruned.metrics.replace(manifest_quality=manifest))
    paths = report([dense, pruned], tmp_path)
    _, rows = read_csv(paths["csv"])
    (m90,) = [r for r in rows if r["variant"] == "bert-base-magnitude-90"]
    assert (m90["usd_per_million"], m90["quality_source"], m90["quality_status"], m90["eligible"]) == (
        "0.95037", "manifest", "unknown", "false")
    md = paths["markdown"].read_text()
    # dense 11/s: ceil(50/11) = 5 x c7a.large = $374.64/month against the T4's $383.98
    assert "- bert-base: CPU costs 1.0x less than a T4 (g4dn.xlarge) at 50 req/s ($374.64/month for 5 x c7a.large" in md
    assert "## Quality unknown (shown, never chosen)" in md


def test_engine_versions_are_short_in_the_table_and_full_in_the_csv(tmp_path):
    ov = make_record("ov", backend="openvino", p99=30, thr=30)
    ov = ov.replace(effective=ov.effective.replace(backend_version="2026.4.1-22982-e213a147257-releases/2026/4"))
    paths = report([ov], tmp_path, CPU_ONLY)
    md = paths["markdown"].read_text()
    header = [c.strip() for c in [ln for ln in md.splitlines() if ln.startswith("| model | variant")][0].strip("|").split("|")]
    assert header == ["model", "variant", "engine", "precision", "instance", "kind", "latency vs SLA", "throughput/s",
                      "$/1M", "fleet", "$/month", "quality"]  # 12 columns; the rest is in the CSV
    assert "| bert-base | dense | OpenVINO 2026.4.1 | fp32 |" in md
    _, (row,) = read_csv(paths["csv"])
    assert row["engine_version"] == "2026.4.1-22982-e213a147257-releases/2026/4"


# ------------------------------------------------------------------------------------------------ HTML / Markdown


def test_html_escapes_every_user_string_and_embeds_pngs(tmp_path):
    evil_model = "<script>alert('m')</script>"
    evil_variant = "/v/bert&<img src=x onerror=alert(1)>"
    recs = seed_records() + [
        make_record("evil", evil_variant, model=evil_model, p99=30, thr=30, sparsity=0.95, accuracy=0.8),
        make_record("nomachine", evil_variant, instance=None, model=evil_model),
    ]
    prices = tmp_path / "p.csv"
    prices.write_text("# schema_version: 1\ninstance,region,purchase_option,usd_per_hour,source,as_of\n"
                      "c7a.large,us-east-2,on-demand,0.1,<b>quote|x</b>,2026-11-01\n")
    book = load_price_book(snapshot_dir=None, prices_csv=prices)
    paths = report(recs, tmp_path / "out", book=book)
    text = paths["html"].read_text()
    for raw in ("<script>", "<img src=x", "<b>quote"):
        assert raw not in text
    assert "&lt;script&gt;alert(&#39;m&#39;)&lt;/script&gt;" in text
    assert "bert&amp;&lt;img src=x onerror=alert(1)&gt;" in text
    assert "&lt;b&gt;quote|x&lt;/b&gt;" in text
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(pngs) == 3  # the answer chart, latency vs sparsity, accuracy vs $/1M
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "http://" not in text and "https://" not in text  # self-contained
    md = paths["markdown"].read_text()
    assert "&lt;b>quote\\|x&lt;/b>" in md  # a pipe in a cell cannot break the Markdown table, nor a tag start


def _markdown_cells(line: str) -> list[str]:
    """A Markdown table row split on its unescaped pipes (a backslash escapes the next character)."""
    cells, cell, chars = [], "", iter(line.strip()[1:-1])
    for ch in chars:
        if ch == "\\":
            cell += ch + next(chars, "")
        elif ch == "|":
            cells.append(cell)
            cell = ""
        else:
            cell += ch
    return cells + [cell]


def test_markdown_escapes_user_strings_and_keeps_the_table(tmp_path):
    evil = make_record("evil", "/v/x", p99=30, thr=30, backend="onnx|runtime")
    evil = evil.replace(config=evil.config.replace(variant_name="a|b\\|<script>alert(1)</script>"))
    recs = [evil, make_record("odd", instance="<img src=x>|c7a.large", p99=30, thr=30)]
    md = report(recs, tmp_path, CPU_ONLY)["markdown"].read_text()
    assert "<script" not in md and "<img" not in md
    assert "a\\|b\\\\\\|&lt;script>alert(1)&lt;/script>" in md  # | -> \|, \ -> \\, < -> &lt;
    table = [ln for ln in md.splitlines() if ln.startswith("|") and "cheapest CPU option" not in ln]
    table = table[table.index(next(ln for ln in table if ln.startswith("| model | variant"))):]
    assert len(table) == 4  # header, rule, two rows
    widths = {len(_markdown_cells(ln)) for ln in table}
    assert widths == {12}
    (evil_row,) = [ln for ln in table if "script" in ln]
    assert _markdown_cells(evil_row)[1].strip() == "a\\|b\\\\\\|&lt;script>alert(1)&lt;/script>"


def test_quotes_passed_in_are_the_prices(tmp_path):
    from harness.pricing import PriceQuote

    quotes = [PriceQuote("c7a.large", "us-east-2", "on-demand", 0.2, "demo quote", "2026-11-20")]
    paths = write_cost_report([make_record("q", p99=40, thr=25)], tmp_path, CPU_ONLY, quotes=quotes)
    _, (row,) = read_csv(paths["csv"])
    assert (row["usd_per_hour"], row["price_source"], row["price_date"]) == ("0.2", "demo quote", "2026-11-20")
    assert row["usd_per_million"] == "2.222222"  # 0.2 / (25 * 3600) * 1e6
    assert "prices: given &lt;quotes passed in> (as of 2026-11-20, 1 quotes)" in paths["markdown"].read_text()


def test_plots_only_when_there_is_data(tmp_path):
    text = report([make_record("d", None, p99=40, thr=25)], tmp_path, CPU_ONLY)["html"].read_text()
    assert text.count("data:image/png;base64,") == 1  # only the answer chart: no sparsity, no measured accuracy
    nothing = report([make_record("nom", instance=None)], tmp_path / "empty", CPU_ONLY)
    assert "png" not in nothing and "data:image/png" not in nothing["html"].read_text()


def test_pareto_front():
    pts = [(1.0, 0.85), (2.0, 0.90), (1.5, 0.80), (3.0, 0.90), (0.5, 0.70), (2.5, 0.95)]
    assert pareto_front(pts) == [(0.5, 0.70), (1.0, 0.85), (2.0, 0.90), (2.5, 0.95)]


def test_unmapped_record_is_listed_not_priced(tmp_path):
    paths = report([make_record("nom", instance=None)], tmp_path)
    _, rows = read_csv(paths["csv"])
    assert rows == []
    md = paths["markdown"].read_text()
    assert "## Unmapped records (no instance type; never mapped silently)" in md and "[record nom]" in md


def test_pareto_front_is_listed_and_plotted(tmp_path):
    recs = gate_records() + [  # 0.10264 / (12.5 x 3600) x 1e6 = 2.2809 $/1M at 0.88: dearer and worse than dense
        make_record("p80", "/variants/bert-base-80", p99=40, thr=12.5, backend="openvino", accuracy=0.88),
        record("sst2", p99=40, thr=30, backend="torch", quality=Quality(accuracy=0.7, task="sst2", split="dev",
                                                                           source="engine"))]
    analysis, _ = cost_analysis(recs, CPU_ONLY, book=BUNDLED)
    fronts = {key: [r.variant for r in front] for key, (_, front) in analysis.pareto().items()}
    assert fronts == {("bert-base", None): ["bert-base-90", "dense"], ("bert-base", "sst2/dev"): ["dense"]}
    paths = report(recs, tmp_path, CPU_ONLY)
    md = paths["markdown"].read_text()
    assert ("- bert-base (task not recorded): bert-base-90 deepsparse fp32 on c7a.large: $0.5702/1M, accuracy 0.875 "
            "(budget exceeded, 2.5 pt, not eligible); dense onnxruntime fp32 on c7a.large: $1.14/1M, accuracy 0.9.") in md
    assert "- bert-base (sst2/dev): dense torch fp32 on c7a.large: $0.9504/1M, accuracy 0.7." in md
    assert '<figcaption>Accuracy vs $ per 1M (Pareto front)</figcaption>' in paths["html"].read_text()


# ------------------------------------------------------------------------------------------------ the seed example


def test_seed_verdict_confirmed_refuted_or_not_measurable_hand_computed(tmp_path):
    # one c7a.large serves 50/s: $74.93/month against the T4's $383.98: 383.98 / 74.9272 = 5.12x, more than 2x-4x
    fast = [make_record("fast", p99=20, thr=50)]
    paths, verdict = write_seed_example(fast, tmp_path / "fast", book=BUNDLED)
    assert verdict.verdict == "confirmed"
    assert verdict.lines[1] == ("Verdict: confirmed: the CPU fleet costs 5.12x less than the T4 fleet, more than the "
                                "claimed 2x-4x at 50 req/s within p99 <= 100 ms (per item at full load the T4 costs "
                                "6.8x less).")  # per item 0.10264 / 50 against 0.526 / 1750: 0.5702 / 0.08349 $/1M
    md = paths["markdown"].read_text()
    assert md.index("## Verdict") < md.index("## All options") and "t4g.xlarge (the seed's CPU" in md
    # 8.8/s: ceil(50 / 8.8) = 6 x 0.10264 x 730 = $449.56/month: the T4 is 449.5632 / 383.98 = 1.17x cheaper
    _, slow = write_seed_example([make_record("slow", p99=90, thr=8.8)], tmp_path / "slow", book=BUNDLED)
    assert slow.verdict == "refuted" and slow.lines[1].startswith(
        "Verdict: refuted: the T4 fleet costs 1.17x less than the CPU fleet at 50 req/s within p99 <= 100 ms")
    # the dense row misses the SLA and the pruned one is 2 points below it: nothing eligible on the CPU side
    _, none = write_seed_example(seed_records(), tmp_path / "none", book=BUNDLED)
    assert none.verdict == "not measurable"
    assert none.lines[1] == ("Verdict: not measurable: no eligible CPU option for BERT-base at p99 <= 100 ms and 50 req/s "
                             "(every CPU row within the SLA of known quality is beyond the 1-point budget "
                             "(--max-quality-drop)).")


def test_seed_example_prices_t4g_without_numbers_and_projects_it_only_when_asked(tmp_path):
    paths, _ = write_seed_example(seed_records(), tmp_path, Q.replace(max_quality_drop=3), book=BUNDLED)
    _, rows = read_csv(paths["csv"])
    assert {r["instance"] for r in rows} == {"c7a.large", "g4dn.xlarge", "t4g.xlarge"}
    (t4g,) = [r for r in rows if r["instance"] == "t4g.xlarge"]  # listed with its price, never invented numbers
    assert (t4g["measured_or_reference"], t4g["usd_per_hour"], t4g["throughput_per_s"], t4g["usd_per_million"],
            t4g["sla_met"]) == ("not measured", "0.1344", "", "", "unknown")
    g4_fp16 = next(r for r in rows if r["instance"] == "g4dn.xlarge" and r["precision"] == "fp16")
    assert g4_fp16["usd_per_million"] == "0.284917" and g4_fp16["reference_grade"] == "published"  # 0.526 x 1.95 / 3.6
    projected, _ = write_seed_example(seed_records(), tmp_path / "p", Q.replace(project_to=("t4g.xlarge",)), book=BUNDLED)
    _, rows = read_csv(projected["csv"])
    t4g = [r for r in rows if r["instance"] == "t4g.xlarge"]
    assert len(t4g) == 3 and {r["measured_or_reference"] for r in t4g} == {"estimate"}  # one per measured group
    pruned = next(r for r in t4g if r["variant"] == "bert-base-90" and r["backend"] == "deepsparse")
    assert pruned["throughput_per_s"] == "54.0"  # 27/s x 4/2 physical cores
    assert pruned["usd_per_million"] == "0.691358"  # 0.1344 / (54 * 3600) * 1e6
    assert "different CPU" in projected["markdown"].read_text()


def test_seed_example_with_measured_gpu_record(tmp_path):
    recs = seed_records() + [make_record("t4", None, instance="g4dn.xlarge", device="cuda:0", backend="torch",
                                         p99=9.0, thr=300.0, precision="fp16")]
    paths, _ = write_seed_example(recs, tmp_path, book=BUNDLED)
    _, rows = read_csv(paths["csv"])
    g4 = [r for r in rows if r["instance"] == "g4dn.xlarge"]
    assert [(r["measured_or_reference"], r["backend"]) for r in g4] == [("measured", "torch")]
    assert g4[0]["usd_per_million"] == "0.487037"  # 0.526 / (300 * 3600) * 1e6


# ------------------------------------------------------------------------------------------------ CLI


def _cli(argv):
    """The real command line (harness.cli.main): its exit code; errors and output go where a user sees them."""
    from harness.cli import main

    return main(argv)


def test_cli_report_cost_writes_files(tmp_path, capsys):
    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    (runs / "a.jsonl").write_text("\n".join(json.dumps(r.to_json()) for r in seed_records()) + "\n")
    out = tmp_path / "report"
    rc = _cli(["report", "cost", "--sla-ms", "100", "--qps", "50", "--region", "us-east-2", "--out", str(out),
               "--results", str(tmp_path / "results"), "--snapshot-dir", str(tmp_path / "none"), "--no-gpu-reference"])
    assert rc == 0 and (out / "cost.csv").exists() and (out / "cost.html").exists() and (out / "cost.png").exists()
    _, rows = read_csv(out / "cost.csv")
    assert {r["measured_or_reference"] for r in rows} == {"measured"}
    assert f"csv: {out / 'cost.csv'}" in capsys.readouterr().out
    rc = _cli(["report", "cost", "--example", "seed", "--out", str(tmp_path / "seed"), "--results", str(tmp_path / "results"),
               "--snapshot-dir", str(tmp_path / "none"), "--prices", str(FIX / "prices-v1.csv")])
    assert rc == 0 and capsys.readouterr().out.startswith("Verdict: not measurable: ")
    _, rows = read_csv(tmp_path / "seed" / "cost.csv")
    prices = {r["instance"]: r["usd_per_hour"] for r in rows}
    assert prices["c7a.large"] == "0.09" and prices["g4dn.xlarge"] == "0.4" and prices["t4g.xlarge"] == "0.1344"


@pytest.mark.parametrize("flags, message", [
    (["--project-to", "c9z.large"], r"--project-to: unknown instance type 'c9z.large'; close valid choices: [^\n]+"),
    (["--instances", "c7i.lage"], r"--instances: unknown instance type 'c7i.lage'; close valid choices: c7i.large[^\n]*"),
    (["--max-quality-drop", "-1"], r"--max-quality-drop: -1.0; valid: a number of accuracy points >= 0"),
])
def test_cli_bad_input_is_one_line(tmp_path, capsys, flags, message):
    assert _cli(["report", "cost", "--out", str(tmp_path / "o"), "--results", str(tmp_path)] + flags) == 2
    assert re.fullmatch(rf"harness: error: {message}\n", capsys.readouterr().err)
    assert not (tmp_path / "o").exists()  # refused before anything is written


def test_cli_prices_show_warns_when_old(tmp_path, capsys, monkeypatch):
    import datetime as dt

    import harness.pricing.quotes

    monkeypatch.setattr(harness.pricing.quotes, "current_date", lambda: dt.date(2027, 3, 1))
    d = tmp_path / "prices"
    d.mkdir()
    shutil.copy(FIX / "snapshot-v1.json", d / "aws-2026-10-01.json")
    assert _cli(["prices", "show", "--region", "us-east-2", "--snapshot-dir", str(d), "--max-age-days", "60"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^c7a\.large +us-east-2 +spot +0\.04 .*fixture: EC2 spot history", out, re.M)  # the user snapshot
    assert re.search(r"^c7a\.large +us-east-2 +on-demand +0\.1 ", out, re.M)  # beats the bundled 0.10264
    assert re.search(r"^c6a\.large +us-east-2 +on-demand +0\.0765 +S +2026-12-05 +86 ", out, re.M)  # a real date: 86 days
    # the newest layer (bundled, 2026-12-05) is 86 days old on 2027-03-01; us-east-2 has 85 types x 2 options in force
    assert "is 86 days old (> 60)" in err
    assert re.search(r"^warning: 170 of 170 quotes in force have a source date older than 60 days \(oldest: c7a.large", err, re.M)


def test_every_command_has_help_with_an_example(capsys):
    for argv in (["prices", "--help"], ["prices", "show", "--help"], ["prices", "refresh", "--help"],
                 ["report", "--help"], ["report", "cost", "--help"]):
        assert _cli(argv) == 0
        assert "example" in capsys.readouterr().out, argv


# ------------------------------------------------------------------------------------------------ headless Chromium


def test_the_answer_and_its_chart_fill_the_first_screen_and_nothing_scrolls_sideways(tmp_path):
    """At 1400 x 900 the answer table and the chart are within the first screen and the page never scrolls sideways,
    with five models, a long variant name and an ISA mismatch. A copy of the page carries a probe that writes the
    geometry into the DOM once everything (the chart image too) has loaded."""
    recs = zoo_records(MILAN) + gate_records() + [make_record("long", "/v/" + "x" * 150, model="distilbert", p99=30,
                                                              thr=30, flops=11_174_808_576)]
    paths = report(recs, tmp_path / "out", Q.replace(project_to=("t4g.xlarge",)))
    probe = ("<script>window.addEventListener('load', function () { var p = document.createElement('pre');"
             " var box = function (id) { return document.getElementById(id).getBoundingClientRect().bottom; };"
             " p.id = 'fit'; p.textContent = JSON.stringify({page: document.documentElement.scrollWidth,"
             " window: window.innerWidth, height: window.innerHeight, answer: box('answer'), chart: box('chart'),"
             " options: document.getElementById('options').scrollWidth, rows: document.querySelectorAll("
             "'#answer tbody tr').length}); document.body.appendChild(p); });</script>")
    copy = tmp_path / "probe.html"
    copy.write_text(paths["html"].read_text().replace("</body>", probe + "</body>"))
    done = headless(copy.resolve().as_uri(), tmp_path / "profile", "--dump-dom", "--window-size=1400,900")
    done.check_returncode()
    (found,) = re.findall(r'<pre id="fit">([^<]*)</pre>', done.stdout)
    fit = json.loads(found)
    # the layout depends on the width only (headless Chromium's viewport height varies with its mode): the bottoms are
    # measured from the top of the page and must lie within the first 900 pixels
    assert (fit["window"], fit["rows"]) == (1400, 4)
    assert fit["answer"] <= fit["chart"] <= 900, fit  # the table, then the chart, both on the first screen
    assert fit["page"] <= fit["window"] and fit["options"] <= fit["window"]  # nothing scrolls sideways
