"""int8 that keeps quality: SmoothQuant leaves the fp32 function unchanged, returning layers to fp32 is an exact
graph edit, the sensitivity pass returns the most harmful layers until the held-back drop is within budget and
says which, the options reach the record, and records of schema version 2 read their quantization chain."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.contracts import BenchConfig, RunRecord, Settings
from harness.quantization.quantize import KEEP_FP32

QUICK = Settings(warmup_iters=1, warmup_s=0.0, min_iters=5, min_duration_s=0.02, timeout_s=300, percentile_target=None,
                 calibration_examples=16)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """bert-tiny exported to ONNX, with large logits and two outlier channels in its LayerNorms (the activation
    outliers of real BERTs), so that per-tensor int8 changes answers."""
    from harness.export.onnx import export_onnx
    from harness.models.base import ExportWrapper
    from harness.models.registry import model_family

    family = model_family("bert-tiny")
    torch.manual_seed(0)
    model = family.build()
    with torch.no_grad():
        model.classifier.weight.mul_(40.0)
        model.bert.embeddings.LayerNorm.weight[3] *= 300.0
        model.bert.encoder.layer[0].output.LayerNorm.weight[5] *= 300.0
    wrapper = ExportWrapper(model, family.input_names).eval()
    inputs = family.example_inputs(4, 16, seed=0)
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(wrapper, family, tuple(inputs[n] for n in family.input_names), path)
    batches = [{k: v.numpy() for k, v in family.example_inputs(8, 16, seed=s).items()} for s in range(1, 5)]
    return path, batches


def _logits(path_or_model, batches):
    import onnx

    from harness.quantization.sensitivity import logits

    model = onnx.load(str(path_or_model)) if not hasattr(path_or_model, "graph") else path_or_model
    return logits(model, batches)


def test_smoothquant_moves_scales_without_changing_the_fp32_function(exported, tmp_path):
    import onnx

    from harness.quantization.smoothquant import smooth

    src, batches = exported
    done = smooth(src, tmp_path / "smooth.onnx", batches, 0.5, KEEP_FP32)
    assert done["matmuls"] == 12 and done["groups"] == 8  # per layer: Q, K and V share one; output, FFN in, FFN out
    smoothed = onnx.load(str(tmp_path / "smooth.onnx"))
    assert sum(n.op_type == "Mul" and n.name.startswith("SmoothQuant") for n in smoothed.graph.node) == 8
    np.testing.assert_allclose(_logits(smoothed, batches), _logits(src, batches), rtol=1e-4, atol=1e-4)


def _quantized(src, dst, batches, **options):
    from harness.quantization.quantize import quantize_onnx

    return quantize_onnx(src, dst, "qdq", batches, Settings(**options))


def test_returning_every_layer_to_fp32_gives_the_fp32_model_back(exported, tmp_path):
    import onnx

    from harness.quantization.sensitivity import quantized_matmuls, return_to_fp32

    src, batches = exported
    record = _quantized(src, tmp_path / "q.onnx", batches)
    int8, fp32 = onnx.load(str(tmp_path / "q.onnx")), onnx.load(str(src))
    names = quantized_matmuls(int8)
    assert len(names) == 16 and not any(KEEP_FP32.search(n) for n in names)  # 2 x (6 projections + 2 attention products)
    assert record.fp32_layers and all(KEEP_FP32.search(n) for n in record.fp32_layers)
    back = return_to_fp32(int8, fp32, names)
    assert not quantized_matmuls(back) and not any(n.op_type == "QuantizeLinear" for n in back.graph.node)
    np.testing.assert_allclose(_logits(back, batches), _logits(src, batches), rtol=1e-4, atol=1e-4)
    one = return_to_fp32(int8, fp32, names[:1])
    assert quantized_matmuls(one) == names[1:]


def test_the_sensitivity_pass_returns_the_most_harmful_layers_until_within_budget(exported, tmp_path):
    import onnx

    from harness.quantization.sensitivity import Heldout, quantized_matmuls, restore

    src, batches = exported
    _quantized(src, tmp_path / "q.onnx", batches, int8_calibration="percentile", int8_per_channel=False)
    int8, fp32 = onnx.load(str(tmp_path / "q.onnx")), onnx.load(str(src))
    heldout = Heldout(batches=batches, labels=None, source="32 generated inputs")
    reference = _logits(fp32, batches).argmax(-1)
    before = float((_logits(int8, batches).argmax(-1) == reference).mean())
    model, done, returned = restore(fp32, int8, heldout, max_drop=0.0)
    assert done.metric == "agreement" and done.fp32 == 1.0 and done.int8_before == pytest.approx(before)
    assert done.within_budget and done.int8_after == 1.0
    assert (float((_logits(model, batches).argmax(-1) == reference).mean())) == 1.0
    assert before < 1.0  # the outliers cost answers
    assert returned and returned == done.ranked[: len(returned)] and len(returned) < 16
    assert list(done.harm) == sorted(done.harm, reverse=True) and len(done.ranked) == 16
    assert set(quantized_matmuls(model)) == set(quantized_matmuls(int8)) - set(returned)
    # a budget the int8 model already meets returns nothing and ranks nothing
    _, relaxed, none = restore(fp32, int8, heldout, max_drop=100.0)
    assert none == () and relaxed.ranked == () and relaxed.int8_after == relaxed.int8_before


def test_int8_options_reach_the_record_and_its_chain(tmp_path):
    from harness.measure.bench import measure

    settings = QUICK.replace(int8_calibration="entropy", smoothquant_alpha=0.5, int8_max_drop=0.0, heldout_examples=32)
    r = measure(BenchConfig(model="bert-tiny", backend="onnxruntime", seq_len=16, precision="int8", settings=settings),
                calibrate=False)
    assert r.status == "ok", r.reason
    q = r.effective.quantization
    assert (q.calibration_method, q.smoothquant_alpha, q.per_channel) == ("entropy", 0.5, True)
    assert q.sensitivity is not None and q.sensitivity.max_drop == 0.0 and q.sensitivity.examples == 32
    assert q.sensitivity.within_budget and "SmoothQuant 0.5" in q.chain and q.chain.startswith("dense -> int8 qdq")
    assert set(q.returned_to_fp32) <= set(q.fp32_layers)
    again = measure(BenchConfig(model="bert-tiny", backend="onnxruntime", seq_len=16, precision="int8",
                                settings=settings), calibrate=False)
    assert again.effective.quantization.seconds == 0.0 and again.phases.quantization_s == 0.0  # cached
    assert again.phases.export_cached and again.phases.compile_cached


def test_a_version_2_record_reads_its_quantization_as_the_typed_chain():
    from tests.helpers.records import record

    data = record().to_json()
    data["schema_version"] = 2
    data.pop("phases", None)
    data["effective"]["quantization"] = {"format": "qdq", "method": "static QDQ int8", "fp32_nodes": ["/classifier/Gemm"],
                                         "int8_weight_zero_fraction": 0.1, "bytes": 1000,
                                         "calibration": {"source": "128 examples of sst2 train", "examples": 128},
                                         "chain": "dense -> int8 qdq (128 examples of sst2 train)"}
    record = RunRecord.from_json(data)
    q = record.effective.quantization
    assert q.fp32_layers == ("/classifier/Gemm",) and q.calibration.examples == 128 and q.bytes == 1000
    assert record.schema_version == 3 and record.phases is None
