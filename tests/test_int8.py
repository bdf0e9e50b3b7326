"""int8 on every engine: the export stage's quantized models, the precision each engine reports back, parity
within the int8 tolerance, zeros that stay zeros, and the DeepSparse rewrite computing what the QDQ graph does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.contracts import BenchConfig, Settings, TaskSpec
from harness.measure.bench import measure
from tests.helpers.checkpoints import make_checkpoint
from tests.helpers.require import require

QUICK = Settings(warmup_iters=1, warmup_s=0.0, min_iters=5, min_duration_s=0.02, timeout_s=300, percentile_target=None,
                 calibration_examples=16)


def run(backend, precision="int8", **kw):
    config = BenchConfig(model=kw.pop("model", "bert-tiny"), backend=backend, seq_len=kw.pop("seq_len", 16),
                         precision=precision, settings=QUICK, **kw)
    return measure(config, calibrate=False)


@pytest.fixture(scope="module")
def loud(tmp_path_factory):
    """bert-tiny's shape with logits of about 5 (bert-tiny's own are about 0.02, inside the int8 tolerance's
    absolute 0.25, where an engine answering zeros would pass parity)."""
    return str(make_checkpoint("bert", 2, tmp_path_factory.mktemp("int8") / "loud-bert", classifier_gain=250))


def assert_parity_can_fail(parity, precision="int8"):
    """Parity passed, and the reference logits were large enough that all-zero outputs would have failed it: the
    tolerance is atol + rtol x scale (harness.runner.worker), zeros differ by the scale itself."""
    from harness.runner.worker import PARITY_TOLERANCE

    atol, rtol = PARITY_TOLERANCE[precision]
    scale = (parity.tolerance - atol) / rtol  # the reference's largest |logit|
    assert parity.ok and parity.max_abs_diff <= parity.tolerance
    assert scale > parity.tolerance, f"logits of at most {scale:.3g} are within the int8 tolerance {parity.tolerance:.3g}"
    assert parity.rel_diff < rtol and parity.top1_agreement >= 0.5


@pytest.mark.parametrize("backend, precision, counter", [
    ("onnxruntime", "int8", "optimized_graph_ops"), ("onnxruntime", "int8-dynamic", "optimized_graph_ops"),
    ("openvino", "int8", "matmul_precisions"), ("torch", "int8", "int8_dynamic_linear_layers"),
])
def test_each_engine_runs_int8_and_reports_it_back(backend, precision, counter, loud):
    r = run(backend, precision, model="loud-bert", checkpoint=loud)
    assert r.status == "ok", r.reason
    assert_parity_can_fail(r.metrics.parity, precision)
    engine = r.effective.engine
    if counter == "optimized_graph_ops":  # ONNX Runtime's optimised graph: every encoder MatMul quantized
        assert engine.optimized_graph_ops.int8_matmuls >= 12
        assert engine.optimized_graph_ops.fp32_matmuls <= 4  # classifier, pooler (and attention matmuls for dynamic)
    elif counter == "matmul_precisions":  # OpenVINO's compiled graph: int8 FullyConnected nodes
        assert engine.matmul_precisions["int8"] >= 12 and engine.matmul_precisions["float"] <= 4
    else:  # torch: 2 layers x 6 Linear, the classifier and pooler left fp32
        assert engine.int8_dynamic_linear_layers == 12
    assert r.precision == ("int8-dynamic" if backend == "torch" or precision == "int8-dynamic" else "int8")
    if backend != "torch":
        q = r.effective.quantization
        assert q.fp32_layers and all("classifier" in n or "pooler" in n for n in q.fp32_layers)
        assert q.bytes == r.metrics.artifact_bytes


def test_engines_refuse_what_they_do_not_offer():
    assert run("openvino", "int8-dynamic").status == "unsupported"
    assert run("onnxruntime", "bf16").status == "unsupported"


def test_calibration_comes_from_the_task_training_split(tmp_path):
    sst2 = tmp_path / "sst2"
    sst2.mkdir()
    (sst2 / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"a fine film number {i}\t{i % 2}\n" for i in range(40)))
    (sst2 / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"a dull film number {i}\t{i % 2}\n" for i in range(10)))
    r = run("onnxruntime", model="minilm-tiny", task=TaskSpec(name="sst2", data=str(sst2)))
    q = r.effective.quantization
    assert r.status == "ok", r.reason
    assert q.calibration.to_json() == {"source": "16 examples of sst2 train", "examples": 16}
    assert r.metrics.quality.examples == 10 and r.metrics.quality.task == "sst2"
    generated = run("onnxruntime", model="minilm-tiny").effective.quantization
    assert generated.calibration.source == "16 generated inputs (seed 7)"


def test_pruned_zeros_stay_zero_in_the_int8_weights(tmp_path):
    from harness.workflows.sweep import make_magnitude_variant

    variant = make_magnitude_variant("bert-tiny", 0.9, tmp_path / "v90", scope="per-layer")
    r = run("onnxruntime", variant=str(variant))
    assert r.status == "ok", r.reason
    # every encoder weight is 90% zeros (round(0.9 * n) of n); symmetric int8 keeps them exactly at the zero point
    assert r.effective.quantization.int8_weight_zero_fraction >= 0.8999
    dense = run("onnxruntime").effective.quantization.int8_weight_zero_fraction
    assert dense < 0.05


def test_the_deepsparse_rewrite_computes_what_the_qdq_graph_computes(tmp_path):
    import onnx
    import onnxruntime as ort

    from harness.export.artifacts import prepare
    from harness.quantization.deepsparse_int8 import rewrite_for_deepsparse

    config = BenchConfig(model="bert-tiny", backend="deepsparse", seq_len=16, precision="int8", settings=QUICK)
    art = prepare(config, static=True, needs_onnx=True, int8_format="matmulinteger")
    model = onnx.load(art.onnx_path)
    kinds = [n.op_type for n in model.graph.node]
    assert kinds.count("MatMulInteger") == 12 and "Cast" in kinds
    assert "matmulinteger" == art.quantization.format and "12 MatMuls" in art.quantization.method
    # the same calibrated per-tensor QDQ graph before the rewrite, run by ONNX Runtime, gives the same logits
    qdq = tmp_path / "qdq.onnx"
    from harness.models.registry import model_family
    from harness.quantization.calibration import calibration_batches

    batches, _ = calibration_batches(config, model_family("bert-tiny"), 16, 1)
    fp32 = Path(art.dir) / "model.onnx"
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    class Reader:
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(fp32), str(qdq), Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul", "Gemm"],
                    per_channel=False, activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8,
                    nodes_to_exclude=[n.name for n in onnx.load(str(fp32)).graph.node
                                      if n.op_type in ("MatMul", "Gemm") and ("classifier" in n.name or "pooler" in n.name)],
                    calibrate_method=CalibrationMethod.MinMax, extra_options={"WeightSymmetric": True})
    rewritten = rewrite_for_deepsparse(onnx.load(str(qdq)))
    assert rewritten.converted == 12
    onnx.checker.check_model(rewritten.model)
    io = np.load(art.io_path)
    feed = {k: io[f"input:{k}"] for k in ("input_ids", "attention_mask")}
    before = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    after = ort.InferenceSession(rewritten.model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    np.testing.assert_allclose(after, before, atol=2e-3)


def test_deepsparse_runs_the_rewritten_int8_graph(loud):
    require("deepsparse", "it runs the DeepSparse engine")
    r = run("deepsparse", model="loud-bert", checkpoint=loud)
    assert r.status == "ok", r.reason
    assert_parity_can_fail(r.metrics.parity)
    assert r.precision == "int8"
    assert r.effective.quantization.format == "matmulinteger"
    assert 0 < r.effective.engine.fraction_of_supported_ops <= 1
