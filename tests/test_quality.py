"""Bring your own model and quality measured on the engine that was timed: checkpoint directories made here
with save_pretrained (2 and 3 labels; BERT, DistilBERT, RoBERTa, ResNet shapes), run through every backend
with parity, and accuracy / agreement with known answers."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from harness.cli import main
from harness.contracts import MIN_SAMPLES, SCHEMA_VERSION, BenchConfig, Settings, TaskSpec
from harness.measure.bench import measure
from harness.models.checkpoint import checkpoint_family
from harness.results.store import load_records
from tests.helpers.checkpoints import LABELS3, make_checkpoint, predictions
from tests.helpers.require import optional, require

QUICK = Settings(warmup_iters=1, warmup_s=0.0, min_iters=5, min_duration_s=0.02, timeout_s=300, percentile_target=None)


@pytest.fixture(scope="module")
def engines():
    """Every engine; DeepSparse where its environment is (missing: left out with a warning, a failure under CI)."""
    return ["torch", "onnxruntime", "openvino"] + (["deepsparse"] if optional("deepsparse", "one engine of several") else [])


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    return {(kind, n): make_checkpoint(kind, n, root / f"{kind}-{n}")
            for kind, n in (("bert", 2), ("bert", 3), ("distilbert", 3), ("roberta", 2), ("resnet", 3))}


@pytest.mark.parametrize("kind, labels", [("bert", 2), ("bert", 3), ("distilbert", 3), ("roberta", 2), ("resnet", 3)])
def test_checkpoint_family_comes_from_config_json(ckpts, kind, labels):
    family = checkpoint_family(ckpts[(kind, labels)])
    assert family.name == f"{kind}-{labels}" and family.model_type == kind and family.num_labels == labels
    assert family.kind == ("image" if kind == "resnet" else "text")
    if kind != "resnet":
        assert family.max_seq_len() == 64 and family.default_seq_len == 64
    model = family.build()
    inputs = family.example_inputs(2, 16 if kind != "resnet" else 32)
    with torch.inference_mode():
        assert model(**inputs).logits.shape == (2, labels)


@pytest.mark.parametrize("kind, labels", [("bert", 3), ("distilbert", 3), ("roberta", 2), ("resnet", 3)])
def test_every_backend_runs_a_checkpoint_with_parity(ckpts, kind, labels, results_dir, engines):
    """`harness bench --checkpoint DIR` with no zoo name, on every engine, parity checked."""
    seq = "32" if kind == "resnet" else "16"
    code = main(["bench", "--checkpoint", str(ckpts[(kind, labels)]), "--backend", ",".join(engines), "--seq", seq,
                 "--min-duration", "0.02", "--min-iters", "5", "--warmup", "1", "--quiet"])
    assert code == 0
    records = load_records()
    assert sorted(r.config.backend for r in records) == sorted(engines)
    for r in records:
        assert r.status == "ok", (r.config.backend, r.reason)
        assert r.metrics.parity.ok and r.metrics.parity.top1_agreement == 1.0
        assert r.config.model == f"{kind}-{labels}" and r.config.checkpoint == str(ckpts[(kind, labels)])


def test_a_zoo_name_still_loads_a_checkpoint_and_keeps_its_three_labels(ckpts, tmp_path, results_dir):
    """The old spelling, `--model bert-tiny --checkpoint DIR`, with a 3-label checkpoint (once a traceback): the
    three labels are the head's (a 2-way bert-tiny head would refuse the third), and the engine's predictions are
    the checkpoint's own."""
    directory = ckpts[("bert", 3)]
    texts = ["a fine film", "a dull film", "a film"]
    labels = [LABELS3[p] for p in predictions(directory, texts, 16)]
    data = tmp_path / "three.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels)) + "a third film,neu\n"
                    "another film,pos\nthe last film,neg\n")
    task = TaskSpec(name="text-classification", data=str(data), text_columns=("text",), label_column="label")
    r = measure(BenchConfig(model="bert-tiny", backend="onnxruntime", seq_len=16, checkpoint=str(directory), task=task,
                            settings=QUICK), calibrate=False)
    assert r.status == "ok", r.reason
    assert r.metrics.parity.ok and r.metrics.parity.top1_agreement == 1.0
    q = r.metrics.quality
    assert q.details.label_names == ("neg", "neu", "pos") and q.examples == 6
    own = [LABELS3[p] for p in predictions(directory, texts + ["a third film", "another film", "the last film"], 16)]
    expected = sum(a == b for a, b in zip(own, labels + ["neu", "pos", "neg"])) / 6
    assert q.accuracy == pytest.approx(expected) and q.accuracy >= 0.5  # the first three are right by construction


def test_bad_checkpoints_are_one_line(ckpts, tmp_path, capsys):
    cases = []
    unsupported = tmp_path / "gpt"
    unsupported.mkdir()
    (unsupported / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    cases.append((["--checkpoint", str(unsupported)], "model_type 'gpt2' is not supported; supported: bert, distilbert, roberta, resnet"))
    cases.append((["--checkpoint", str(tmp_path / "missing")], "does not exist"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    cases.append((["--checkpoint", str(broken)], "not a readable JSON file"))
    for extra, message in cases:
        assert main(["bench", *extra, "--backend", "onnxruntime", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
    # weights of another architecture under a zoo name: a record with the reason, not a traceback
    r = measure(BenchConfig(model="bert-tiny", backend="onnxruntime", seq_len=16, checkpoint=str(ckpts[("distilbert", 3)]),
                            settings=QUICK), calibrate=False)
    assert r.status == "error" and "does not match bert-tiny" in r.reason and "\n" not in r.reason


# -- quality on the engine -------------------------------------------------------------------------------------


def test_accuracy_on_every_engine_has_a_known_answer(ckpts, tmp_path, results_dir, engines):
    """Labels equal to the model's own top-1 for 20 sentences and wrong for 10: accuracy is 20/30 and agreement
    with the dense model 30/30 on every engine, with Wilson intervals."""
    from scipy.stats import binomtest

    directory = ckpts[("bert", 3)]
    texts = [f"review number {i} says the film was {w}" for i, w in enumerate(["fine", "dull", "great"] * 10)]
    preds = predictions(directory, texts, 16)
    labels = [LABELS3[p] if i < 20 else LABELS3[(p + 1) % 3] for i, p in enumerate(preds)]
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels)))
    code = main(["bench", "--checkpoint", str(directory), "--backend", ",".join(engines), "--seq", "16", "--batch", "4",
                 "--task", "text-classification", "--data", str(data), "--text-columns", "text", "--label-column", "label",
                 "--min-duration", "0.02", "--min-iters", "5", "--warmup", "1", "--quiet"])
    assert code == 0
    wilson = binomtest(20, 30).proportion_ci(method="wilson")
    for r in load_records():
        q = r.metrics.quality
        assert (q.task, q.split, q.examples, q.source) == ("text-classification", "reviews.csv", 30, "engine"), r.config.backend
        assert q.accuracy == pytest.approx(20 / 30) and q.top1_agreement == 1.0, r.config.backend
        assert q.accuracy_ci95 == pytest.approx((wilson.low, wilson.high))
        assert q.data_sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
        assert q.eval_s > 0 and q.details.label_names == ("neg", "neu", "pos")
        assert r.metrics.manifest_quality is None


def test_sst2_dev_accuracy_and_the_data_hash(results_dir):
    """The engine's accuracy on the first 40 dev sentences is what the same model computes in torch through the
    training pipeline's own tokenization (harness.tasks.sst2, not the worker's evaluation set)."""
    from harness.models.registry import model_family
    from harness.tasks import make_task

    sst2 = require("sst2", "it measures accuracy on SST-2 dev")
    task = TaskSpec(name="sst2", data=str(sst2), eval_limit=40)
    r = measure(BenchConfig(model="minilm-tiny", backend="onnxruntime", seq_len=32, task=task, settings=QUICK),
                calibrate=False)
    q = r.metrics.quality
    assert r.status == "ok", r.reason
    assert (q.task, q.split, q.examples) == ("sst2", "dev", 40)
    assert q.data_sha256 == hashlib.sha256((sst2 / "dev.tsv").read_bytes()).hexdigest()
    assert q.top1_agreement == 1.0  # the dense model agrees with itself
    family = model_family("minilm-tiny")
    model, correct = family.build().eval(), 0
    with torch.inference_mode():
        for inputs, labels in make_task(family, str(sst2), max_eval=40, seq_len=32).eval_batches(batch_size=40):
            correct += int((model(**inputs).logits.argmax(-1) == labels).sum())
    assert q.accuracy == pytest.approx(correct / 40)


def test_teacher_task_reports_agreement_never_accuracy(ckpts, results_dir):
    task = TaskSpec(name="teacher", eval_limit=12)
    r = measure(BenchConfig(model="resnet-3", backend="openvino", seq_len=32, checkpoint=str(ckpts[("resnet", 3)]),
                            task=task, settings=QUICK), calibrate=False)
    q = r.metrics.quality
    assert r.status == "ok", r.reason
    assert q.accuracy is None and q.accuracy_ci95 is None
    assert (q.source, q.split, q.examples, q.top1_agreement) == ("teacher", "generated", 12, 1.0)


@pytest.mark.parametrize("extra, message", [
    (["--task", "sst2", "--data", "/nonexistent/sst2"], "data directory '/nonexistent/sst2' does not exist"),
    (["--task", "text-classification", "--data", "{csv}", "--text-columns", "nope", "--label-column", "label"],
     "has no column 'nope'; its columns: text, label"),
    (["--task", "text-classification", "--data", "{csv}", "--text-columns", "text", "--label-column", "label"],
     "unknown labels ['sideways']; the model's labels are neg, neu, pos"),
    (["--task", "sst2", "--data", "{sst2}"], "task sst2 has 2 labels (negative, positive) but the model has 3"),
    (["--task", "text-classification", "--data", "{csv}"], "needs one or two text columns and a label column"),
    (["--data", "x"], "--data needs --task"),
])
def test_bad_task_input_is_one_line_and_writes_nothing(ckpts, tmp_path, results_dir, capsys, extra, message):
    data = tmp_path / "odd.csv"
    data.write_text("text,label\nfine,neg\nok,sideways\n")
    if "{sst2}" in extra:
        extra = [str(require("sst2", "the case reads SST-2")) if e == "{sst2}" else e for e in extra]
    extra = [str(data) if e == "{csv}" else e for e in extra]
    code = main(["bench", "--checkpoint", str(ckpts[("bert", 3)]), "--backend", "onnxruntime", "--seq", "16", *extra,
                 "--quiet", "--min-duration", "0.01"])
    err = capsys.readouterr().err
    assert code == 2  # refused before any work
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (results_dir / "runs").exists()


# -- enough samples for p99 ------------------------------------------------------------------------------------


def test_min_samples_are_what_the_interval_needs():
    from harness.foundation.stats import percentile_interval

    for name, n in MIN_SAMPLES.items():
        q = {"p50": 0.5, "p90": 0.9, "p99": 0.99}[name]
        assert percentile_interval(np.arange(n, dtype=float), q) is not None
        assert percentile_interval(np.arange(n - 1, dtype=float), q) is None


def test_a_default_run_collects_enough_samples_for_p99_or_says_why_not(results_dir):
    base = Settings(warmup_iters=1, warmup_s=0.0, min_iters=5, min_duration_s=0.01, timeout_s=300)
    assert base.percentile_target == "p99" and base.required_samples == MIN_SAMPLES["p99"]
    r = measure(BenchConfig(model="bert-tiny", backend="onnxruntime", seq_len=16, settings=base), calibrate=False)
    assert r.latency.n >= MIN_SAMPLES["p99"] and r.latency.percentile("p99") is not None
    assert r.effective.stop_reason == "min_iters_and_duration"
    short = Settings(warmup_iters=1, warmup_s=0.0, min_iters=5, min_duration_s=0.01, max_iters=50, timeout_s=300)
    r = measure(BenchConfig(model="bert-tiny", backend="onnxruntime", seq_len=16, settings=short), calibrate=False)
    assert r.latency.n == 50 and "p99" in r.latency.unsupported and r.effective.stop_reason == "max_iters"


def test_results_csv_opens_in_pandas_without_options(ckpts, results_dir, capsys):
    import io

    import pandas as pd

    first = measure(BenchConfig(model="bert-tiny", backend="onnxruntime", seq_len=16, settings=QUICK), calibrate=False)
    assert first.ok, first.reason  # measure() returns the record and stores nothing: only the appended one is read
    from harness.results.store import append_record

    for r in [measure(BenchConfig(model="bert-tiny", backend="openvino", seq_len=16, settings=QUICK), calibrate=False)]:
        append_record(r)
    assert main(["results", "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(frame["backend"]) == ["openvino"] and frame["csv_schema_version"].tolist() == [SCHEMA_VERSION]


# -- fine-tune, prune and measure a checkpoint: the demo's path, on a tiny model -----------------------------------


def test_finetune_then_prune_the_checkpoint_then_measure_both(tmp_path, results_dir, capsys):
    sst2 = tmp_path / "sst2"
    sst2.mkdir()
    good, bad = ["a fine warm film", "great fun"], ["a dull cold film", "boring mess"]
    rows = [(t, 1) for t in good] * 10 + [(t, 0) for t in bad] * 10
    (sst2 / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    (sst2 / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows[::5]))
    ckpt = tmp_path / "minilm-tiny-sst2"
    assert main(["finetune", "minilm-tiny", "--data", str(sst2), "--steps", "80", "--lr", "3e-3", "--batch-size", "8",
                 "--out", str(ckpt)]) == 0
    described = json.loads((ckpt / "harness-finetune.json").read_text())
    assert (ckpt / "config.json").is_file() and (ckpt / "tokenizer.json").is_file()
    assert described["quality"]["after"]["accuracy"] == 1.0  # four sentences, learned
    variant = tmp_path / "v50"
    assert main(["prune", "--checkpoint", str(ckpt), "--method", "magnitude", "--sparsity", "0.5", "--out", str(variant),
                 "--no-progress"]) == 0
    manifest = json.loads((variant / "manifest.json").read_text())
    assert manifest["model"] == "minilm-tiny-sst2" and manifest["base"]["checkpoint"] == str(ckpt)
    code = main(["bench", "--checkpoint", str(ckpt), "--variant", f"none,{variant}", "--backend", "onnxruntime",
                 "--seq", "16", "--task", "sst2", "--data", str(sst2), "--min-duration", "0.01", "--min-iters", "5",
                 "--warmup", "1", "--quiet"])
    assert code == 0, capsys.readouterr().err
    by = {r.variant_label: r for r in load_records()}
    assert by["dense"].metrics.quality.accuracy == 1.0 and by["dense"].metrics.quality.top1_agreement == 1.0
    pruned = by["v50"]
    assert pruned.config.checkpoint == str(ckpt) and pruned.metrics.manifest_quality.source == "manifest"
    assert pruned.metrics.quality.source == "engine" and pruned.metrics.quality.examples == 8


def test_the_evaluation_pass_batches_only_where_outputs_cannot_depend_on_the_batch():
    """Static shapes and activations quantized per call keep the timed batch; everything else evaluates in 32s."""
    from harness.backends.registry import backend_class
    from harness.contracts import Artifact

    artifact = Artifact(dir=".", input_names=("input_ids",))

    def batch(backend, precision, timed=1, **attrs):
        b = backend_class(backend)(BenchConfig(model="bert-tiny", backend=backend, precision=precision, batch_size=timed),
                                   artifact)
        for k, v in attrs.items():
            setattr(b, k, v)
        return b.eval_batch_size(timed)

    assert batch("onnxruntime", "fp32") == 32 and batch("onnxruntime", "int8") == 32
    assert batch("onnxruntime", "int8-dynamic") == 1 and batch("onnxruntime", "int8-dynamic", timed=8) == 8
    assert batch("openvino", "int8") == 32 and batch("onnxruntime", "fp32", timed=64) == 64
    assert batch("torch", "fp32", quantized_layers=0) == 32 and batch("torch", "int8", quantized_layers=12) == 1
    assert batch("deepsparse", "fp32") == 1
