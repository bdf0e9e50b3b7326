"""The default job's path end to end on tiny models: dense matrix, pruned variant, sparse kernels,
summary and cost reports."""

import csv

import pytest

from harness.results.store import load_records
from harness.workflows.demo import run_demo
from tests.helpers.checkpoints import predictions

QUICK = """\
models: [bert-tiny]
backends: [torch, onnxruntime, openvino]
threads: [1]
batch_sizes: [1]
seq_lens: [16]
instance_type: match
settings: {min_duration_s: 0.05, max_duration_s: 5, min_iters: 5, warmup_iters: 1, warmup_s: 0.0}
"""


def test_demo_path_goes_from_models_to_a_cost_answer(tmp_path, capsys):
    matrix = tmp_path / "demo.yaml"
    matrix.write_text(QUICK)
    results = tmp_path / "results"
    code = run_demo(matrix_path=matrix, root=results, progress=False, pruned_model="bert-tiny")
    assert code == 0
    records = [r.to_json() for r in load_records(results)]
    variants = {r["config"]["variant_name"] for r in records}
    assert variants == {"dense", "bert-tiny-magnitude-90"}
    pruned = [r for r in records if r["config"]["variant_name"] != "dense"]
    assert {r["config"]["backend"] for r in pruned} == {"torch", "deepsparse"}  # where zeros can be skipped
    assert all(abs(r["config"]["sparsity"] - 0.9) < 0.005 for r in pruned)
    assert any(r["effective"]["kernel"] == "sparse-csr" for r in pruned if r["status"] == "ok")
    out = capsys.readouterr().out
    assert "p50_ms" in out and "cost report:" in out
    rows = list(csv.DictReader(line for line in open(results / "reports" / "demo" / "cost.csv") if not line.startswith("#")))
    # priced as the catalogue's type matching the CPU that measured: AVX-512 with VNNI (Genoa) is a c7a, AVX2 alone
    # (Milan) a c6a; us-east-2 on-demand prices of the 2026-12-05 snapshot
    machine = records[0]["machine"]
    if machine["cpu_vendor"] != "AuthenticAMD":
        pytest.skip("the known answers below are for the AMD EPYC machines this project runs on")
    expected, price = ("c7a.large", 0.10264) if "avx512_vnni" in machine["isa_flags"] else ("c6a.large", 0.0765)
    assert {r["machine"]["instance_type"] for r in records} == {expected}
    mapped = [r for r in rows if r["instance"] == expected and r["usd_per_million"] and r["purchase_option"] == "on-demand"]
    assert mapped and all(float(r["usd_per_hour"]) == price and not r["cpu_match"] for r in mapped)
    assert (results / "reports" / "seed" / "cost.html").is_file()
    # a second run measures nothing new for this commit and still reports every configuration
    assert run_demo(matrix_path=matrix, root=results, progress=False, pruned_model="bert-tiny") == 0
    assert len(load_records(results)) == len(records)


def _tiny_sst2(directory):
    directory.mkdir()
    good, bad = ["a fine warm film", "great fun"], ["a dull cold film", "boring mess"]
    rows = [(t, 1) for t in good] * 10 + [(t, 0) for t in bad] * 10
    (directory / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    (directory / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows[::5]))
    return directory


def test_demo_measures_the_fine_tuned_model_for_accuracy_on_every_engine(tmp_path, capsys):
    """With data, the demo fine-tunes, lets `harness compress` choose a compressed model within its budget, and
    measures the checkpoint and the chosen variant's accuracy on each engine; the random-weight zoo rows stay
    latency-only and the cost answer rests on measured quality."""
    import json

    from harness.contracts import Settings
    from harness.foundation.machine import cache_dir
    from harness.workflows.demo import QualityPart

    matrix = tmp_path / "demo.yaml"
    matrix.write_text(QUICK.replace("backends: [torch, onnxruntime, openvino]", "backends: [onnxruntime]"))
    tiny = Settings(warmup_iters=1, warmup_s=0.0, min_iters=5, min_duration_s=0.05, max_duration_s=2.0,
                    percentile_target=None, timeout_s=300)
    part = QualityPart(model="minilm-tiny", finetune_steps=60, batch_size=8, max_train=None, seq_len=16,
                       engines=("torch", "onnxruntime"), int8_engines=("onnxruntime",),
                       compress_engines=("onnxruntime",), compress_targets=(0.5,), compress_budget_minutes=5.0,
                       max_quality_drop=100.0, calibration_examples=16, heldout_examples=16, compress_settings=tiny)
    results = tmp_path / "results"
    data = _tiny_sst2(tmp_path / "sst2")
    code = run_demo(matrix_path=matrix, root=results, progress=False, prune=False, data_dir=str(data), part=part)
    assert code == 0
    records = load_records(results)
    measured = [r for r in records if r.config.task is not None]
    chosen = json.loads((cache_dir() / "demo" / "compress" / "compress.json").read_text())["chosen"]
    # with a 100-point budget the fastest candidate wins; the demo measures it beside the checkpoint
    assert chosen is not None and all(r.ok for r in measured), [(r.status, r.reason) for r in measured]
    expected = {("torch", "fp32", False), ("onnxruntime", "fp32", False), ("onnxruntime", "int8", False)}
    if chosen["variant_dir"]:
        expected |= {("onnxruntime", "fp32", True)}  # the chosen variant on the engines compress tried
    if chosen["precision"] == "int8":
        expected.add((chosen["backend"], "int8", chosen["variant_dir"] is not None))
    assert {(r.config.backend, r.config.precision, r.config.variant is not None) for r in measured} == expected
    if chosen["variant_dir"]:
        assert {r.config.variant for r in measured if r.config.variant} == {chosen["variant_dir"]}
    assert all(r.config.settings.max_duration_s == 60.0 for r in measured)  # room for p99's 368 samples
    for r in measured:
        q = r.metrics.quality
        assert q.source == "engine" and q.task == "sst2" and q.examples == 8
    # known answers: the fine-tuned checkpoint's own predictions (transformers, outside the harness) on the 8 dev
    # sentences give the dense model's accuracy on both fp32 engines; the chosen variant's fp32 accuracy on ONNX
    # Runtime is what compress measured for it there
    dense = [r for r in measured if r.config.variant is None]
    checkpoint = dense[0].config.checkpoint
    texts, labels = zip(*[line.split("\t") for line in (data / "dev.tsv").read_text().splitlines()[1:]])
    expected = sum(p == int(y) for p, y in zip(predictions(checkpoint, list(texts), 16), labels)) / len(texts)
    fp32 = {(r.config.variant is not None, r.config.backend): r.metrics.quality for r in measured if r.config.precision == "fp32"}
    assert fp32[(False, "torch")].accuracy == fp32[(False, "onnxruntime")].accuracy == pytest.approx(expected)
    assert fp32[(False, "onnxruntime")].top1_agreement == 1.0
    if chosen["variant_dir"]:
        candidates = json.loads((cache_dir() / "demo" / "compress" / "compress.json").read_text())["candidates"]
        same = [c for c in candidates if (c["variant_dir"], c["backend"], c["precision"]) ==
                (chosen["variant_dir"], "onnxruntime", "fp32")]
        assert same and fp32[(True, "onnxruntime")].accuracy == pytest.approx(same[0]["accuracy"])
    manifest_quality = [r.metrics.manifest_quality for r in measured if r.config.variant]
    assert all(m is not None and m.source == "manifest" for m in manifest_quality)
    zoo = [r for r in records if r.config.task is None]
    assert zoo and all(r.metrics.quality is None for r in zoo)
    rows = list(csv.DictReader(open(results / "reports" / "demo" / "cost.csv")))
    by_model = {row["model"] for row in rows}
    assert "minilm-tiny-sst2" in by_model and "bert-tiny" in by_model
    zoo_rows = [row for row in rows if row["model"] == "bert-tiny" and row["measured_or_reference"] == "measured"]
    # the dense fp32 zoo model is its own baseline (drop 0) though its accuracy is not measured
    assert zoo_rows and all((row["quality_source"], row["accuracy_drop"], row["accuracy"]) == ("baseline", "0.0", "")
                            for row in zoo_rows)


def test_demo_refuses_a_data_directory_without_sst2_in_one_line(tmp_path, capsys):
    from harness.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["demo", "--data", str(tmp_path / "empty"), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.tsv" in err[0]
    assert not (tmp_path / "r").exists()
