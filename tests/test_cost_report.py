"""Cost reports: CSV columns and values, HTML escaping and embedded plots, the seed example, the CLI,
and the HTML rendered by headless Chromium."""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
from pathlib import Path

from harness.contracts import Quality
from harness.pricing import load_price_book
from harness.results.report.cost_answer import answer_lines
from harness.results.report.cost_csv import COST_CSV_SCHEMA_VERSION, CSV_COLUMNS
from harness.results.report.cost_plots import pareto_front
from harness.results.report.cost_report import cost_analysis, write_cost_report, write_seed_example
from tests.helpers.browser import headless
from tests.helpers.records import record

BUNDLED = load_price_book(snapshot_dir=None)
FIX = Path(__file__).parent / "fixtures" / "pricing"


def make_record(rid, variant=None, p99=50.0, thr=20.0, instance="c7a.large", batch=1, backend="onnxruntime",
                model="bert-base", device="cpu", accuracy=None, sparsity=None, precision="fp32"):
    """A run record as the runner writes it (the fields the cost code reads)."""
    return record(rid, variant=variant, p99=p99, thr=thr, instance=instance, batch=batch, backend=backend, model=model,
                  device=device, accuracy=accuracy, sparsity=sparsity, precision=precision, n=120,
                  backend_version="1.8.0")


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


# ------------------------------------------------------------------------------------------------ CSV


def test_csv_columns_exactly_and_hand_computed_values(tmp_path):
    paths = write_cost_report(seed_records(), tmp_path, 100, 50, "us-east-2", book=BUNDLED, gpu_reference=False)
    assert set(paths) == {"markdown", "html", "csv"} and all(p.exists() for p in paths.values())
    header, rows = read_csv(paths["csv"])
    assert tuple(header.split(",")) == CSV_COLUMNS
    assert COST_CSV_SCHEMA_VERSION == 3 and {r["schema_version"] for r in rows} == {"3"}
    assert CSV_COLUMNS == (
        "schema_version", "model", "variant", "backend", "engine_version", "precision", "instance", "region", "purchase_option",
        "usd_per_hour", "price_source", "price_date", "vcpu_or_gpu", "batch", "seq_len", "throughput_per_s", "p50_ms",
        "p99_ms", "sla_met", "usd_per_million", "usd_per_month_at_target", "measured_or_reference", "accuracy",
        "accuracy_drop", "top1_agreement", "quality_source", "quality_status", "eligible", "quality_task",
        "quality_baseline", "quality_note")
    first = rows[0]
    assert (first["variant"], first["backend"], first["instance"], first["usd_per_hour"], first["throughput_per_s"]) == (
        "bert-base-90", "deepsparse", "c7a.large", "0.10264", "27.0")
    assert first["usd_per_million"] == "1.055967"  # 0.10264 / (27 * 3600) * 1e6 = 1.0559671
    assert first["usd_per_month_at_target"] == "149.8544"  # ceil(50 / 27) = 2; 2 * 0.10264 * 730
    assert (first["sla_met"], first["measured_or_reference"], first["vcpu_or_gpu"]) == ("true", "measured", "2 vCPU (2 cores)")
    assert float(first["p50_ms"]) == 32.0 and float(first["p99_ms"]) == 40.0 and first["price_date"] == "2025/2026"
    missed = [r for r in rows if r["sla_met"] == "false"]
    assert len(missed) == 2 and all(r["usd_per_million"] == "" and r["usd_per_month_at_target"] == "" for r in missed)
    # quality: 0.89 against the dense fp32 deepsparse record's 0.91 = 2 points, beyond the default 1-point budget
    assert (first["engine_version"], first["accuracy"], first["accuracy_drop"], first["quality_source"],
            first["quality_status"], first["eligible"]) == ("1.8.0", "0.89", "2.0", "engine", "budget exceeded", "false")
    assert first["quality_baseline"] == "dense fp32 deepsparse [record dense]: accuracy 0.91"
    dense = next(r for r in rows if r["variant"] == "dense")
    assert (dense["accuracy_drop"], dense["quality_status"], dense["eligible"]) == ("0.0", "ok", "false")  # SLA missed


def test_csv_row_without_price_says_so_never_zero(tmp_path):
    paths = write_cost_report([make_record("x", instance="c7a.large")], tmp_path, 100, 50, "eu-west-1", book=BUNDLED)
    _, rows = read_csv(paths["csv"])
    (row,) = rows
    assert row["price_source"] == "no price for c7a.large in eu-west-1"
    assert row["usd_per_hour"] == row["usd_per_million"] == row["usd_per_month_at_target"] == ""
    md = paths["markdown"].read_text()
    assert "## No price (excluded from $ columns)" in md and "no price for c7a.large in eu-west-1" in md


def test_csv_reads_back_with_pandas_and_no_options(tmp_path):
    import pandas

    paths = write_cost_report(seed_records(), tmp_path, 100, 50, "us-east-2", book=BUNDLED, gpu_reference=False)
    frame = pandas.read_csv(paths["csv"])
    assert tuple(frame.columns) == CSV_COLUMNS and len(frame) == 3
    assert frame["schema_version"].tolist() == [3, 3, 3]
    first = frame.iloc[0]
    assert (first["variant"], first["backend"], first["instance"], first["price_date"]) == (
        "bert-base-90", "deepsparse", "c7a.large", "2025/2026")
    assert first["usd_per_hour"] == 0.10264 and first["throughput_per_s"] == 27.0
    assert first["usd_per_million"] == 1.055967 and first["usd_per_month_at_target"] == 149.8544
    assert frame["sla_met"].tolist() == [True, False, False]
    assert frame["usd_per_million"].isna().tolist() == [False, True, True]  # SLA missed: empty, never zero


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
    paths = write_cost_report(recs, tmp_path / "out", 100, 50, "us-east-2", book=book)
    text = paths["html"].read_text()
    for raw in ("<script>", "<img src=x", "<b>quote"):
        assert raw not in text
    assert "&lt;script&gt;alert(&#39;m&#39;)&lt;/script&gt;" in text
    assert "bert&amp;&lt;img src=x onerror=alert(1)&gt;" in text
    assert "&lt;b&gt;quote|x&lt;/b&gt;" in text
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(pngs) == 3  # latency vs sparsity, $/1M per instance, accuracy vs $/1M
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
    md = write_cost_report(recs, tmp_path, 100, 50, "us-east-2", book=BUNDLED, gpu_reference=False)["markdown"].read_text()
    assert "<script" not in md and "<img" not in md
    assert "a\\|b\\\\\\|&lt;script>alert(1)&lt;/script>" in md  # | -> \|, \ -> \\, < -> &lt;
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(table) == 4  # header, rule, two rows
    widths = {len(_markdown_cells(ln)) for ln in table}
    assert widths == {len(_markdown_cells(table[0]))}
    (evil_row,) = [ln for ln in table if "script" in ln]
    assert _markdown_cells(evil_row)[1].strip() == "a\\|b\\\\\\|&lt;script>alert(1)&lt;/script>"


def test_quotes_passed_in_are_the_prices(tmp_path):
    from harness.pricing import PriceQuote

    quotes = [PriceQuote("c7a.large", "us-east-2", "on-demand", 0.2, "demo quote", "2026-11-20")]
    paths = write_cost_report([make_record("q", p99=40, thr=25)], tmp_path, 100, 50, "us-east-2", quotes=quotes,
                              gpu_reference=False)
    _, (row,) = read_csv(paths["csv"])
    assert (row["usd_per_hour"], row["price_source"], row["price_date"]) == ("0.2", "demo quote", "2026-11-20")
    assert row["usd_per_million"] == "2.222222"  # 0.2 / (25 * 3600) * 1e6
    assert "prices: given &lt;quotes passed in> (as of 2026-11-20, 1 quotes)" in paths["markdown"].read_text()


def test_plots_only_when_there_is_data(tmp_path):
    paths = write_cost_report([make_record("d", None, p99=40, thr=25)], tmp_path, 100, 50, "us-east-2", book=BUNDLED,
                              gpu_reference=False)
    text = paths["html"].read_text()
    assert text.count("data:image/png;base64,") == 1  # only the $/1M bars: no sparsity, no quality
    assert "<table>" in text


def test_pareto_front():
    pts = [(1.0, 0.85), (2.0, 0.90), (1.5, 0.80), (3.0, 0.90), (0.5, 0.70), (2.5, 0.95)]
    assert pareto_front(pts) == [(0.5, 0.70), (1.0, 0.85), (2.0, 0.90), (2.5, 0.95)]


def test_unmapped_record_is_listed_not_priced(tmp_path):
    paths = write_cost_report([make_record("nom", instance=None)], tmp_path, 100, 50, "us-east-2", book=BUNDLED)
    _, rows = read_csv(paths["csv"])
    assert rows == []
    md = paths["markdown"].read_text()
    assert "## Unmapped records (no instance type; never mapped silently)" in md and "[record nom]" in md


# ------------------------------------------------------------------------------------------------ the seed example


def test_seed_example_c7a_measured_t4g_not_measured_g4dn_reference(tmp_path):
    # the pruned row is 2 points below the dense 0.91: compared within a 3-point budget (at 1 point, see the next test)
    paths = write_seed_example(seed_records(), tmp_path, book=BUNDLED, max_quality_drop=3)
    _, rows = read_csv(paths["csv"])
    assert {r["instance"] for r in rows} == {"c7a.large", "g4dn.xlarge", "t4g.xlarge"}
    (t4g,) = [r for r in rows if r["instance"] == "t4g.xlarge"]  # listed with its price, never invented numbers
    assert (t4g["measured_or_reference"], t4g["usd_per_hour"], t4g["throughput_per_s"], t4g["usd_per_million"],
            t4g["sla_met"]) == ("not measured", "0.1344", "", "", "unknown")
    assert {r["measured_or_reference"] for r in rows if r["instance"] == "g4dn.xlarge"} == {"reference"}
    assert {r["measured_or_reference"] for r in rows if r["instance"] == "c7a.large"} == {"measured"}
    g4_fp16 = next(r for r in rows if r["instance"] == "g4dn.xlarge" and r["precision"] == "fp16")
    assert g4_fp16["usd_per_million"] == "0.284917" and g4_fp16["region"] == "us-east-2"
    md = paths["markdown"].read_text()
    assert "t4g.xlarge: not measured" in md
    assert "BERT-base bert-base-90 on c7a.large [measured] (deepsparse, fp32, batch 1): $1.056 per 1M" in md
    # 0.284917 / 1.055967 = 0.2698 -> the GPU reference is 3.71x cheaper per item than the pruned CPU row
    assert "vs g4dn.xlarge TensorRT fp16 batch 1 [reference] $0.2849 per 1M (GPU 3.71x cheaper per item" in md
    assert "published reference" in md and "not a measurement" in md
    assert "BERT-base dense on c7a.large [measured] (deepsparse, fp32): p99 118 ms > 100 ms: SLA not met; no cost per item." in md
    assert ("quality: accuracy 0.89 (engine), 2 points below dense fp32 deepsparse [record dense]: accuracy 0.91; vs "
            "g4dn.xlarge") in md
    assert "Quality held: accuracy within 3 points of the dense fp32 baseline" in md


def test_seed_verdict_holds_quality_and_names_what_it_leaves_out(tmp_path):
    md = write_seed_example(seed_records(), tmp_path, book=BUNDLED)["markdown"].read_text()
    assert "Quality held: accuracy within 1 point of the dense fp32 baseline (the dense fp32 record of the same model" in md
    assert ("BERT-base bert-base-90 on c7a.large [measured] (deepsparse, fp32, batch 1): $1.056 per 1M, not compared: "
            "quality budget exceeded (2 points below the baseline, beyond the 1-point budget; baseline: dense fp32 "
            "deepsparse [record dense]: accuracy 0.91).") in md
    assert ("No measured c7a.large record of acceptable quality meets p99 <= 100 ms with a price in us-east-2: nothing "
            "measured to compare with the seed's claim.") in md
    assert "GPU 3.71x cheaper" not in md  # no comparison is made with a row beyond the budget


def test_seed_example_with_projection_labels_t4g_estimate(tmp_path):
    paths = write_seed_example(seed_records(), tmp_path, book=BUNDLED, project_to=("t4g.xlarge",))
    _, rows = read_csv(paths["csv"])
    t4g = [r for r in rows if r["instance"] == "t4g.xlarge"]
    assert len(t4g) == 3 and {r["measured_or_reference"] for r in t4g} == {"estimate"}  # one per measured group
    pruned = next(r for r in t4g if r["variant"] == "bert-base-90" and r["backend"] == "deepsparse")
    assert pruned["throughput_per_s"] == "54.0"  # 27/s x 4/2 physical cores
    assert pruned["usd_per_million"] == "0.691358"  # 0.1344 / (54 * 3600) * 1e6
    assert "different CPU" in paths["markdown"].read_text()


def test_seed_example_with_measured_gpu_record(tmp_path):
    recs = seed_records() + [make_record("t4", None, instance="g4dn.xlarge", device="cuda:0", backend="torch",
                                         p99=9.0, thr=300.0, precision="fp16")]
    paths = write_seed_example(recs, tmp_path, book=BUNDLED)
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
    assert rc == 0 and (out / "cost.csv").exists() and (out / "cost.html").exists()
    _, rows = read_csv(out / "cost.csv")
    assert {r["measured_or_reference"] for r in rows} == {"measured"}
    assert f"csv: {out / 'cost.csv'}" in capsys.readouterr().out
    rc = _cli(["report", "cost", "--example", "seed", "--out", str(tmp_path / "seed"), "--results", str(tmp_path / "results"),
               "--snapshot-dir", str(tmp_path / "none"), "--prices", str(FIX / "prices-v1.csv")])
    _, rows = read_csv(tmp_path / "seed" / "cost.csv")
    assert {r["instance"]: r["usd_per_hour"] for r in rows} == {"c7a.large": "0.09", "g4dn.xlarge": "0.4",  # user CSV
                                                                 "t4g.xlarge": "0.1344"}  # bundled, not measured


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert _cli(["report", "cost", "--out", str(tmp_path), "--results", str(tmp_path), "--project-to", "c9z.large"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"harness: error: --project-to: unknown instance type 'c9z.large'; close valid choices: [^\n]+\n", err)


def test_cli_prices_show_warns_when_old(tmp_path, capsys, monkeypatch):
    import datetime as dt

    import harness.pricing.quotes

    monkeypatch.setattr(harness.pricing.quotes, "current_date", lambda: dt.date(2026, 11, 24))
    d = tmp_path / "prices"
    d.mkdir()
    shutil.copy(FIX / "snapshot-v1.json", d / "aws-2026-10-01.json")
    assert _cli(["prices", "show", "--region", "us-east-2", "--snapshot-dir", str(d), "--max-age-days", "60"]) == 0
    out, err = capsys.readouterr()
    assert "c7a.large    us-east-2  spot" in out and "0.04" in out and "fixture: EC2 spot history" in out
    assert "0.10264" not in out.split("c7a.large    us-east-2  on-demand")[1].splitlines()[0]  # snapshot beat bundled
    # us-east-2: 13 bundled cells + the fixture's spot cell; its on-demand cell (2026-10-01) replaced c7a.large's,
    # so 12 of 14 have source dates older than 60 days on 2026-11-24
    assert re.search(r"^warning: 12 of 14 quotes in force have a source date older than 60 days \(oldest: ", err, re.M)


def test_every_command_has_help_with_an_example(capsys):
    for argv in (["prices", "--help"], ["prices", "show", "--help"], ["prices", "refresh", "--help"],
                 ["report", "--help"], ["report", "cost", "--help"]):
        assert _cli(argv) == 0
        assert "example" in capsys.readouterr().out, argv


# ------------------------------------------------------------------------------------------------ headless Chromium


def test_html_renders_in_headless_chromium(tmp_path):
    paths = write_cost_report(seed_records(), tmp_path / "out", 100, 50, "us-east-2", book=BUNDLED)
    url = paths["html"].resolve().as_uri()
    shot = tmp_path / "shot.png"
    headless(url, tmp_path / "profile1", f"--screenshot={shot}", "--window-size=1200,2000").check_returncode()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a blank 1200x2000 page compresses to a few kB
    done = headless(url, tmp_path / "profile2", "--dump-dom")
    done.check_returncode()
    dom = done.stdout
    assert "<table>" in dom and "<td>bert-base-90</td>" in dom
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', dom)) == 3


def test_report_merges_records_from_several_machines_by_instance_and_fingerprint(tmp_path):
    from harness.results.store import append_record, load_records

    def on(machine_id, cpu, instance, rid, thr, created):
        r = make_record(rid, thr=thr, instance=instance)
        return r.replace(machine=r.machine.replace(id=machine_id, cpu_model=cpu), created_at=created)

    root = tmp_path / "results"
    # two c7a.large hosts with the same CPU (the newer record wins), one c6i.xlarge host
    append_record(on("host-a", "AMD EPYC 9R14", "c7a.large", "a", 10.0, "2026-11-01T00:00:00+00:00"), root)
    append_record(on("host-b", "AMD EPYC 9R14", "c7a.large", "b", 12.0, "2026-11-02T00:00:00+00:00"), root)
    append_record(on("host-c", "Intel Xeon 8375C", "c6i.xlarge", "c", 20.0, "2026-11-02T00:00:00+00:00"), root)
    records = load_records(root)
    assert {r.machine.id for r in records} == {"host-a", "host-b", "host-c"}
    paths = write_cost_report(records, tmp_path / "out", sla_ms=100, qps=50, region="us-east-1", book=BUNDLED,
                              gpu_reference=False)
    _, rows = read_csv(paths["csv"])
    by_instance = {}
    for row in rows:
        by_instance.setdefault(row["instance"], []).append(float(row["throughput_per_s"]))
    assert by_instance == {"c7a.large": [12.0], "c6i.xlarge": [20.0]}


# ------------------------------------------------------------------------------------------------ quality-gated reports


def gate_records():
    """Dense onnxruntime at 0.900 (1.140444 $/1M) and a pruned DeepSparse row 2.5 points worse at half the price."""
    return [make_record("dense", None, p99=40, thr=25, accuracy=0.900),
            make_record("p90", "/variants/bert-base-90", p99=40, thr=50, backend="deepsparse", accuracy=0.875)]


def demo_like_records():
    """What the demo measures: dense rows with no --task, and a variant pruned one-shot without data, whose manifest
    gives top-1 agreement with the dense model only."""
    dense = make_record("dense-ds", None, p99=120, thr=9, backend="deepsparse")
    pruned = make_record("m90", "/cache/variants/bert-base-magnitude-90", p99=40, thr=30, backend="deepsparse")
    manifest = Quality(top1_agreement=0.62, examples=256, source="manifest", details={"top1_agreement": 0.62, "n": 256})
    return [dense, pruned.replace(metrics=pruned.metrics.replace(manifest_quality=manifest))]


def test_answer_opens_the_report_with_the_cheapest_eligible_option_and_the_gpu_beside_it(tmp_path):
    analysis = cost_analysis(gate_records(), 100, 50, "us-east-2", book=BUNDLED)
    # dense: 0.10264 / (25 x 3600) x 1e6 = 1.14 $/1M, ceil(50 / 25) = 2 instances x 0.10264 x 730 = $149.85/month;
    # g4dn.xlarge int8 (published): 0.526 / (1750 x 3600) x 1e6 = 0.08349 $/1M, 1 x 0.526 x 730 = $383.98/month, the
    # cheapest GPU at 50 req/s; its int8 figure may lose 1% of 0.9 = 0.9 points; break-even: above 125 req/s
    # 6 x 0.10264 = 0.61584 $/h > 0.526 $/h. The pruned row is cheaper and 2.5 points worse: not chosen.
    assert answer_lines(analysis) == [
        "bert-base: the cheapest eligible option at p99 <= 100 ms and 50 requests/s is c7a.large, onnxruntime 1.8.0, "
        "fp32, dense, batch 1 [measured] at $1.14 per 1M items; 2 x c7a.large = $149.85/month at 50 requests/s; "
        "accuracy 0.9, measured on the engine; it is the dense fp32 baseline itself. Best GPU option beside it: "
        "g4dn.xlarge, TensorRT, int8, dense, batch 128 [reference] at $0.08349 per 1M items; 1 x g4dn.xlarge = "
        "$383.98/month at 50 requests/s; quality assumed, not measured: a published int8 figure, held to MLPerf's "
        "99%-of-fp32 accuracy target, at most 0.9 points below the baseline; baseline: dense fp32 onnxruntime "
        "[record dense]: accuracy 0.9; break-even between the two: GPU cheaper above 125 req/s (checked up to 10,000 "
        "req/s). Not chosen though cheaper: c7a.large, deepsparse 1.8.0, fp32, bert-base-90, batch 1 [measured] at "
        "$0.5702 per 1M, beyond the quality budget: 2.5 points below the baseline, beyond the 1-point budget."]
    wide = answer_lines(cost_analysis(gate_records(), 100, 50, "us-east-2", book=BUNDLED, max_quality_drop=3))
    # pruned: 0.10264 / (50 x 3600) x 1e6 = 0.5702 $/1M, 1 instance = $74.93/month; vs the GPU above 250 req/s
    # (6 x 0.10264 > 0.526 only above 5 x 50)
    assert wide[0].startswith(
        "bert-base: the cheapest eligible option at p99 <= 100 ms and 50 requests/s is c7a.large, deepsparse 1.8.0, "
        "fp32, bert-base-90, batch 1 [measured] at $0.5702 per 1M items; 1 x c7a.large = $74.93/month at 50 "
        "requests/s; accuracy 0.875, measured on the engine; 2.5 points below dense fp32 onnxruntime [record dense]: "
        "accuracy 0.9. Best GPU option beside it: g4dn.xlarge, TensorRT, int8")
    assert "break-even between the two: GPU cheaper above 250 req/s" in wide[0] and "Not chosen" not in wide[0]
    paths = write_cost_report(gate_records(), tmp_path, 100, 50, "us-east-2", book=BUNDLED)
    md = paths["markdown"].read_text()
    assert re.findall(r"^## .*", md, re.M)[0] == "## Answer"  # the first section
    html = paths["html"].read_text()
    assert re.findall(r"<h2>([^<]*)</h2>", html)[0] == "Answer"
    assert "bert-base: the cheapest eligible option at p99 &lt;= 100 ms and 50 requests/s is c7a.large" in html


def test_csv_quality_columns_for_each_kind_of_quality(tmp_path):
    recs = gate_records() + [
        record("teacher", variant="/v/bert-base-95", p99=40, thr=100, top1=0.93, quality_source="teacher", n=120,
               backend_version="1.8.0"),
        make_record("latency", "/v/bert-base-80", p99=40, thr=40),
    ]
    paths = write_cost_report(recs, tmp_path, 100, 50, "us-east-2", book=BUNDLED, gpu_reference=False)
    _, rows = read_csv(paths["csv"])
    cols = ("variant", "accuracy", "accuracy_drop", "top1_agreement", "quality_source", "quality_status", "eligible")
    assert [tuple(r[c] for c in cols) for r in rows] == [  # cheapest first: 100/s, 50/s, 40/s, 25/s
        ("bert-base-95", "", "", "0.93", "teacher", "unknown", "false"),
        ("bert-base-90", "0.875", "2.5", "", "engine", "budget exceeded", "false"),
        ("bert-base-80", "", "", "", "none", "unknown", "false"),
        ("dense", "0.9", "0.0", "", "engine", "ok", "true"),
    ]
    notes = {r["variant"]: r["quality_note"] for r in rows}
    assert notes["bert-base-95"] == ("agreement only: top-1 agreement 0.93 with the dense fp32 model on generated inputs; "
                                     "accuracy unknown")
    assert notes["bert-base-80"].startswith("latency-only: no quality measured (run with --task); seeded random weights")
    allowed = write_cost_report(recs, tmp_path / "allowed", 100, 50, "us-east-2", book=BUNDLED, gpu_reference=False,
                                allow_unknown_quality=True)
    _, rows = read_csv(allowed["csv"])
    assert [(r["variant"], r["quality_status"], r["eligible"]) for r in rows] == [
        ("bert-base-95", "unknown", "true"), ("bert-base-90", "budget exceeded", "false"),
        ("bert-base-80", "unknown", "true"), ("dense", "ok", "true")]
    assert notes["bert-base-95"] + "; allowed by --allow-unknown-quality" == rows[0]["quality_note"]
    md = allowed["markdown"].read_text()
    assert "| unknown: agreement only, allowed |" in md  # labelled in the table
    assert "## Quality unknown (allowed by --allow-unknown-quality)" in md
    assert "this report was made with --allow-unknown-quality" in md
    assert answer_lines(cost_analysis(recs, 100, 50, "us-east-2", book=BUNDLED, gpu_reference=False,
                                      allow_unknown_quality=True))[0].startswith(
        "bert-base: the cheapest eligible option at p99 <= 100 ms and 50 requests/s is c7a.large, onnxruntime 1.8.0, "
        "fp32, bert-base-95, batch 1 [measured] at $0.2851 per 1M items; 1 x c7a.large = $74.93/month at 50 "
        "requests/s; quality unknown (agreement only: top-1 agreement 0.93")


def test_a_demo_like_report_chooses_nothing_and_says_why(tmp_path):
    paths = write_cost_report(demo_like_records(), tmp_path, 100, 50, "us-east-2", book=BUNDLED)
    _, rows = read_csv(paths["csv"])
    (m90,) = [r for r in rows if r["variant"] == "bert-base-magnitude-90"]
    assert (m90["usd_per_million"], m90["quality_source"], m90["quality_status"], m90["eligible"]) == (
        "0.95037", "manifest", "unknown", "false")  # shown with its price, never chosen
    assert m90["quality_note"].startswith("agreement only: top-1 agreement 0.62 with the dense model (made without "
                                          "labelled data; variant manifest: measured in torch")
    assert not any(r["eligible"] == "true" for r in rows)  # the published GPU figures have no measured dense baseline
    md = paths["markdown"].read_text()
    assert ("- bert-base: no eligible option at p99 <= 100 ms and 50 requests/s: no row of known quality: run the "
            "dense fp32 model and its variants with --task (for example --task sst2) to measure accuracy on the engine, "
            "or pass --allow-unknown-quality. The cheapest measured row within the SLA, c7a.large, deepsparse 1.8.0, "
            "fp32, bert-base-magnitude-90, batch 1 [measured] at $0.9504 per 1M, is not chosen: agreement only") in md
    assert "## Quality unknown (shown, never chosen)" in md
    assert ("bert-base/dense/deepsparse/fp32 on c7a.large: latency-only: no quality measured (run with --task); seeded "
            "random weights (no --checkpoint): a random classifier, its accuracy is unknown") in md
    assert "no model has both an eligible CPU row and an eligible GPU row" in md
    verdict = "\n".join(write_seed_example(demo_like_records(), tmp_path / "seed", book=BUNDLED)["markdown"]
                        .read_text().split("## Verdict")[1].split("## Cost")[0].splitlines())
    assert "BERT-base bert-base-magnitude-90 on c7a.large [measured] (deepsparse, fp32, batch 1): $0.9504 per 1M, not " \
           "compared: quality unknown (agreement only" in verdict
    assert "GPU" not in verdict.split("not compared")[1].split("\n")[0]  # no CPU-vs-GPU claim on it


def test_engine_version_has_a_column_of_its_own(tmp_path):
    md = write_cost_report(gate_records(), tmp_path, 100, 50, "us-east-2", book=BUNDLED,
                           gpu_reference=False)["markdown"].read_text()
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[:6] == ["model", "variant", "backend", "engine version", "precision", "instance"]
    first = [c.strip() for c in table[2].strip("|").split("|")]
    assert first[2:4] == ["deepsparse", "1.8.0"]


def test_pareto_front_is_listed_and_plotted(tmp_path):
    recs = gate_records() + [  # 0.10264 / (12.5 x 3600) x 1e6 = 2.2809 $/1M at 0.88: dearer and worse than dense
        make_record("p80", "/variants/bert-base-80", p99=40, thr=12.5, backend="openvino", accuracy=0.88),
        record("sst2", p99=40, thr=30, backend="torch", quality=Quality(accuracy=0.7, task="sst2", split="dev",
                                                                           source="engine"))]
    analysis = cost_analysis(recs, 100, 50, "us-east-2", book=BUNDLED, gpu_reference=False)
    fronts = {key: [r.variant for r in front] for key, (_, front) in analysis.pareto().items()}
    assert fronts == {("bert-base", None): ["bert-base-90", "dense"], ("bert-base", "sst2/dev"): ["dense"]}
    paths = write_cost_report(recs, tmp_path, 100, 50, "us-east-2", book=BUNDLED, gpu_reference=False)
    md = paths["markdown"].read_text()
    assert ("- bert-base (task not recorded): bert-base-90 deepsparse fp32 on c7a.large: $0.5702/1M, accuracy 0.875 "
            "(budget exceeded, not eligible); dense onnxruntime fp32 on c7a.large: $1.14/1M, accuracy 0.9.") in md
    assert "- bert-base (sst2/dev): dense torch fp32 on c7a.large: $0.9504/1M, accuracy 0.7." in md
    assert '<figcaption>Accuracy vs $ per 1M (Pareto front)</figcaption>' in paths["html"].read_text()


def test_cli_quality_flags(tmp_path, capsys):
    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    (runs / "a.jsonl").write_text("\n".join(json.dumps(r.to_json()) for r in gate_records()) + "\n")
    base = ["report", "cost", "--results", str(tmp_path / "results"), "--snapshot-dir", str(tmp_path / "none"),
            "--no-gpu-reference"]
    eligible = {}
    for flag in ("1", "3"):
        assert _cli(base + ["--out", str(tmp_path / flag), "--max-quality-drop", flag]) == 0
        _, rows = read_csv(tmp_path / flag / "cost.csv")
        eligible[flag] = {r["variant"]: r["eligible"] for r in rows}
    assert eligible == {"1": {"bert-base-90": "false", "dense": "true"}, "3": {"bert-base-90": "true", "dense": "true"}}
    capsys.readouterr()
    assert _cli(base + ["--out", str(tmp_path / "bad"), "--max-quality-drop", "-1"]) == 2
    assert capsys.readouterr().err == ("harness: error: --max-quality-drop: -1.0; valid: a number of accuracy points "
                                       ">= 0\n")


def test_html_fits_its_page_in_headless_chromium(tmp_path):
    """At 1280 px the page itself never scrolls sideways; the wide cost table scrolls inside its own box. A copy of
    the page carries a probe that writes the widths into the DOM once it has loaded."""
    recs = seed_records() + demo_like_records() + [make_record("long", "/v/" + "x" * 150, p99=30, thr=30)]
    paths = write_cost_report(recs, tmp_path / "out", 100, 50, "us-east-2", book=BUNDLED, project_to=("t4g.xlarge",))
    probe = ("<script>window.addEventListener('load', function () { var p = document.createElement('pre');"
             " p.id = 'fit'; p.textContent = JSON.stringify({page: document.documentElement.scrollWidth,"
             " window: window.innerWidth, table: document.querySelector('table').scrollWidth});"
             " document.body.appendChild(p); });</script>")
    copy = tmp_path / "probe.html"
    copy.write_text(paths["html"].read_text().replace("</body>", probe + "</body>"))
    done = headless(copy.resolve().as_uri(), tmp_path / "profile", "--dump-dom", "--window-size=1280,900")
    done.check_returncode()
    (found,) = re.findall(r'<pre id="fit">([^<]*)</pre>', done.stdout)
    widths = json.loads(found)
    assert widths["window"] == 1280
    assert widths["table"] > widths["window"]  # the table is wider than the window ...
    assert widths["page"] <= widths["window"]  # ... and the page is not
