"""Sparse kernels (torch CSR swap, OpenVINO evidence), kernel fields in records, and the sparsity sweep."""

import json

import pytest
import torch
from torch import nn

from harness.backends.sparse_kernels import CSR_SPARSITY_THRESHOLD, csr_linear, sparsity_of, swap_to_sparse
from harness.contracts import BenchConfig
from harness.foundation.errors import ConfigError
from harness.measure.bench import measure as run_config
from harness.workflows.sweep import (
    SweepRow,
    SweepSpec,
    crossover,
    crossovers,
    ensure_variants,
    format_sweep,
    make_magnitude_variant,
    run_sweep,
    sweep_configs,
    sweep_rows,
)
from tests.helpers.records import record


def _zero_exactly(linear: nn.Linear, sparsity: float, seed: int) -> int:
    """Zero round(sparsity * n) weights at seeded random positions; returns how many."""
    gen = torch.Generator().manual_seed(seed)
    n = linear.weight.numel()
    k = round(sparsity * n)
    with torch.no_grad():
        linear.weight.view(-1)[torch.randperm(n, generator=gen)[:k]] = 0.0
    return k


def _three_layer_model():
    """Linear 64->32 and 32->32 at 95% sparsity, 32->8 at 20%."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 8)).eval()
    zeros = [_zero_exactly(model[0], 0.95, 1), _zero_exactly(model[2], 0.95, 2), _zero_exactly(model[4], 0.20, 3)]
    return model, zeros


# -- the CSR swap ------------------------------------------------------------------------------------


def test_swap_replaces_exactly_the_layers_above_the_threshold_and_keeps_outputs():
    model, zeros = _three_layer_model()
    assert zeros == [1946, 973, 51]  # round(.95 * 2048), round(.95 * 1024), round(.2 * 256)
    x = torch.randn(3, 5, 64, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        expected = model(x)
    info = swap_to_sparse(model)
    assert info.kernel == "sparse-csr"
    ev = info.evidence
    assert (ev.swapped_layers, ev.dense_layers) == (2, 1)
    assert ev.threshold == CSR_SPARSITY_THRESHOLD and "crossover" in ev.threshold_source
    assert ev.min_swapped_sparsity == round(973 / 1024, 6)
    assert ev.max_dense_sparsity == round(51 / 256, 6)
    assert ev.swapped_weight_fraction == round((2048 + 1024) / (2048 + 1024 + 256), 6)
    assert [type(model[i]).__name__ for i in (0, 2, 4)] == ["CsrLinear", "CsrLinear", "Linear"]
    assert model[0].nnz == 2048 - 1946 and model[2].nnz == 1024 - 973
    with torch.inference_mode():
        got = model(x)
    assert got.shape == (3, 5, 8)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_threshold_override_from_the_backend_setting():
    model, _ = _three_layer_model()
    assert swap_to_sparse(model, 0.1).evidence.swapped_layers == 3
    model, _ = _three_layer_model()
    info = swap_to_sparse(model, 0.99)
    assert info.kernel == "dense"
    assert info.evidence.swapped_layers == 0 and info.evidence.dense_layers == 3
    assert info.evidence.threshold_source == "backend setting sparse_threshold"
    assert "0.99" in info.evidence.reason
    assert all(type(model[i]) is nn.Linear for i in (0, 2, 4))


def test_a_layer_without_zeros_is_never_swapped_even_at_threshold_zero():
    model = nn.Sequential(nn.Linear(8, 8)).eval()
    info = swap_to_sparse(model, 0.0)
    assert info.kernel == "dense" and info.evidence.dense_layers == 1


def test_bad_threshold_names_the_field():
    from harness.backends.torch_backend import TorchBackend
    from harness.contracts import RecordError

    with pytest.raises(RecordError, match=r"sparse_threshold: expected a fraction in \[0, 1\], got 1\.5"):
        TorchBackend.parse_settings({"sparse_threshold": 1.5})
    with pytest.raises(RecordError, match=r"backend_settings\.streams: not a setting of backend 'torch'; valid: sparse_threshold"):
        TorchBackend.parse_settings({"streams": 2})


def test_csr_linear_without_bias_and_on_2d_input():
    layer = nn.Linear(16, 4, bias=False).eval()
    _zero_exactly(layer, 0.75, 0)
    assert sparsity_of(layer.weight) == 0.75
    sparse = csr_linear(layer)
    x = torch.randn(7, 16)
    with torch.inference_mode():
        torch.testing.assert_close(sparse(x), layer(x), rtol=1e-5, atol=1e-6)
    assert sparse.nnz == 16 and sparse.sparsity == 0.75


# -- the sweep's library parts (no workers) ---------------------------------------------------------------


def test_magnitude_variant_hits_the_target_exactly(tmp_path):
    from harness.models.registry import model_family
    from harness.variants.neural import load_variant

    path = make_magnitude_variant("bert-tiny", 0.9, tmp_path / "v", scope="per-layer")
    v = load_variant(path)
    assert v.manifest.method == "magnitude" and v.manifest.structure == "unstructured"
    # made by the pruning library: one-shot, no fine-tuning, quality against the dense model recorded
    assert v.manifest.recipe["schedule"]["kind"] == "oneshot" and v.manifest.recipe["finetune"]["steps"] == 0
    assert v.manifest.quality.dense.top1_agreement == 1.0 and v.manifest.quality.pruned.n == 256
    layers = model_family("bert-tiny").prunable_layers(v.model)
    assert len(layers) == 12
    for name, m in layers.items():
        n = m.weight.numel()
        assert int((m.weight == 0).sum()) == round(0.9 * n), name
    # the smallest surviving magnitude is at least the largest removed one's: magnitude, not random
    dense_layers = model_family("bert-tiny").prunable_layers(model_family("bert-tiny").build())
    name = next(iter(layers))
    kept = dense_layers[name].weight.detach()[layers[name].weight != 0].abs()
    removed = dense_layers[name].weight.detach()[layers[name].weight == 0].abs()
    assert float(kept.min()) >= float(removed.max())

    g = make_magnitude_variant("bert-tiny", 0.5, tmp_path / "g", scope="global")
    total = sum(m.weight.numel() for m in model_family("bert-tiny").prunable_layers(load_variant(g).model).values())
    assert json.loads((g / "manifest.json").read_text())["realised_sparsity"]["overall"] == round(round(0.5 * total) / total, 6)


def test_sweep_configs_run_kernel_insensitive_backends_once(tmp_path):
    spec = SweepSpec(model="bert-tiny", sparsities=(0.0, 0.9), backends=("torch", "onnxruntime", "deepsparse"),
                     kernels=("dense", "sparse"), seq_len=16)
    configs = sweep_configs(spec, {0.0: None, 0.9: str(tmp_path / "v90")})
    assert [(c.variant is not None, c.backend, c.kernel) for c in configs] == [
        (False, "torch", "dense"), (False, "torch", "sparse"), (False, "onnxruntime", "dense"), (False, "deepsparse", "dense"),
        (True, "torch", "dense"), (True, "torch", "sparse"), (True, "onnxruntime", "dense"), (True, "deepsparse", "dense"),
    ]
    assert all(c.seq_len == 16 and c.threads == 1 for c in configs)


@pytest.mark.parametrize("kwargs, message", [
    ({"sparsities": (0.0, 1.0)}, r"sparsities: expected fractions in \[0, 1\), got 1\.0"),
    ({"sparsities": (0.5, 0.5)}, r"sparsities: duplicate values"),
    ({"backends": ("tensorrt",)}, r"unknown backend 'tensorrt'; valid choices: torch, onnxruntime"),
    ({"kernels": ("csr",)}, r"unknown kernel 'csr'; valid choices: dense, sparse"),
    ({"scope": "layer"}, r"unknown scope 'layer'; valid choices: global, per-layer"),
    ({"repeats": 0}, r"repeats: expected a positive integer, got 0"),
])
def test_sweep_spec_names_the_bad_field(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SweepSpec(model="bert-tiny", **kwargs)


def _rec(backend, kernel, sparsity, ms, ran="dense", status="ok"):
    r = record("x", backend=backend, variant=None if sparsity == 0 else f"v{sparsity}", sparsity=sparsity,
               status=status, samples=[ms] * 9 if status == "ok" else [])
    return r.replace(config=r.config.replace(kernel=kernel), effective=r.effective.replace(kernel=ran))


def test_sweep_rows_speedups_and_crossover_known_answers():
    records = [
        _rec("torch", "dense", 0.0, 10.0), _rec("torch", "sparse", 0.0, 10.0),
        _rec("torch", "dense", 0.5, 10.0), _rec("torch", "sparse", 0.5, 12.5, "sparse-csr"),
        _rec("torch", "dense", 0.8, 10.0), _rec("torch", "sparse", 0.8, 9.6, "sparse-csr"),  # 1.04x: under the margin
        _rec("torch", "dense", 0.9, 10.0), _rec("torch", "sparse", 0.9, 5.0, "sparse-csr"),
        _rec("torch", "dense", 0.95, 10.0), _rec("torch", "sparse", 0.95, 4.0, "sparse-csr"),
        _rec("deepsparse", "dense", 0.0, 8.0, "deepsparse"), _rec("deepsparse", "dense", 0.5, 4.0, "deepsparse"),
        _rec("deepsparse", "dense", 0.8, 9.0, "deepsparse"), _rec("deepsparse", "dense", 0.9, 2.0, "deepsparse"),
        _rec("deepsparse", "dense", 0.95, 1.0, "deepsparse", status="error"),
    ]
    rows = sweep_rows(records)
    cell = {(r.label, r.sparsity): r for r in rows}
    assert [r.label for r in rows][:1] == ["torch/dense"]  # columns in order of first appearance
    assert cell[("torch/sparse", 0.5)].speedup == 0.8
    assert cell[("torch/sparse", 0.9)].speedup == 2.0 and cell[("torch/sparse", 0.9)].speedup_ci95 == (2.0, 2.0)
    assert cell[("torch/sparse", 0.95)].speedup == 2.5
    assert cell[("torch/sparse", 0.9)].kernels_ran == ("sparse-csr",)
    assert cell[("torch/sparse", 0.9)].n == 9 and cell[("torch/sparse", 0.9)].p50_ms == 5.0
    assert cell[("deepsparse/dense", 0.95)].status == "error" and cell[("deepsparse/dense", 0.95)].p50_ms is None
    cross = crossovers(rows)
    # torch/sparse: 0.8 is only 1.04x, 0.9 and 0.95 win; torch/dense never wins;
    # deepsparse: 0.5 wins but 0.8 loses and 0.95 failed (no measurement) -> never from a point on
    assert cross == {"torch/dense": None, "torch/sparse": 0.9, "deepsparse/dense": None}
    table = format_sweep(rows, cross)
    assert "| 90% |" in table and "5.00 ms (2.00x, 2.00-2.00)" in table
    assert "torch/sparse [dense,sparse-csr]" in table
    assert table.splitlines()[-1] == "| crossover | never (within the measured range) | 90% | never (within the measured range) |"


def test_crossover_needs_every_higher_sparsity_to_win():
    def row(s, lo):
        return SweepRow("torch", "sparse", s, s, ("sparse-csr",), "ok", None, 5, 1.0, lo + 0.1, (lo, lo + 0.2))

    assert crossover([row(0.5, 1.2), row(0.8, 0.9), row(0.9, 1.5), row(0.95, 2.0)]) == 0.9
    assert crossover([row(0.5, 1.2), row(0.8, 1.1), row(0.9, 1.5)]) == 0.5
    assert crossover([row(0.9, 1.5), row(0.95, 1.0)]) is None


def test_sweep_cli_help_and_one_line_errors(capsys):
    from harness.cli import main

    try:
        code = main(["sweep", "--help"])
    except SystemExit as exc:  # argparse's own exit, when main does not turn it into a return code
        code = exc.code
    assert code == 0
    assert "example:\n  harness sweep --model bert-base" in capsys.readouterr().out
    assert main(["sweep", "--model", "bert-tiny", "--sparsities", "0,1.5", "--prepare-only"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "harness: error: sparsities: expected fractions in [0, 1), got 1.5"


# -- records through the real runner (tiny models) ------------------------------------------------------


@pytest.fixture(scope="module")
def variant90(tmp_path_factory):
    """bert-tiny with every prunable layer at exactly 90% (per-layer magnitude), as the sweep makes it."""
    root = tmp_path_factory.mktemp("sweep-variants")
    spec = SweepSpec(model="bert-tiny", sparsities=(0.9,), scope="per-layer", variants_dir=str(root))
    return root, ensure_variants(spec)[0.9]


def test_sweep_end_to_end_records_the_kernel_that_ran(variant90, quick_settings, results_dir):
    from harness.results.store import load_records

    root, _ = variant90
    spec = SweepSpec(model="bert-tiny", sparsities=(0.0, 0.9), backends=("torch",), kernels=("sparse",),
                     seq_len=16, scope="per-layer", variants_dir=str(root), settings=quick_settings)
    result = run_sweep(spec, progress=False, calibrate=False, echo=None)
    assert len(result.records) == 2 and len(load_records()) == 2
    by = {r.config.variant is not None: r.to_json() for r in result.records}
    assert all(r["status"] == "ok" and r["metrics"]["parity"]["ok"] for r in by.values())
    sparse90 = by[True]
    assert sparse90["effective"]["kernel"] == "sparse-csr"
    ev = sparse90["effective"]["kernel_evidence"]
    # 12 prunable encoder Linear layers at 90% swapped; pooler and classifier (no zeros) stay dense
    assert (ev["swapped_layers"], ev["dense_layers"]) == (12, 2)
    # the 64x64 layers are the least sparse: round(0.9 * 4096) = 3686 zeros
    assert ev["min_swapped_sparsity"] == round(3686 / 4096, 6)
    assert by[False]["effective"]["kernel"] == "dense"  # the dense model: nothing reaches the threshold
    assert by[False]["effective"]["kernel_evidence"]["swapped_layers"] == 0
    assert [(r.label, r.sparsity, r.kernels_ran) for r in result.rows] == [
        ("torch/sparse", 0.0, ("dense",)), ("torch/sparse", 0.9, ("sparse-csr",))]
    assert result.rows[1].speedup is not None and result.rows[0].speedup == 1.0
    assert set(result.crossovers) == {"torch/sparse"}
    assert result.variants == {0.0: None, 0.9: str(root / "bert-tiny-magnitude-per-layer-0900")}


def test_openvino_sparse_option_is_never_claimed_without_evidence(variant90, quick_settings):
    _, path = variant90
    r = run_config(BenchConfig(model="bert-tiny", backend="openvino", seq_len=16, kernel="sparse", variant=path,
                               settings=quick_settings), calibrate=False).to_json()
    assert r["status"] == "ok", r["reason"]
    ev = r["effective"]["kernel_evidence"]
    assert ev["requested_rate"] == 0.8 and ev["fully_connected_nodes"] > 0
    assert r["effective"]["kernel"] == ("openvino-sparse-weights" if ev["sparse_weight_nodes"] else "dense")
    # fp32 weights: OpenVINO decompresses only int8 weights, so nothing uses sparse weights here
    assert ev["sparse_weight_nodes"] == 0 and ev["runtime_precisions"] == ["f32"]
    assert "int8" in ev["reason"]
    if not {"amx_tile", "amx_int8"} <= set(r["machine"]["isa_flags"]):
        assert ev["cpu_has_amx"] is False and "no AMX" in ev["reason"]


def test_onnxruntime_records_dense_and_torch_refuses_bf16_sparse(variant90, quick_settings):
    _, path = variant90
    ort = run_config(BenchConfig(model="bert-tiny", backend="onnxruntime", seq_len=16, kernel="sparse", variant=path,
                                 settings=quick_settings), calibrate=False).to_json()
    assert ort["status"] == "ok" and ort["effective"]["kernel"] == "dense"
    assert "zeros are multiplied" in ort["effective"]["kernel_evidence"]["reason"]
    bf16 = run_config(BenchConfig(model="bert-tiny", backend="torch", seq_len=16, kernel="sparse", precision="bf16",
                                  variant=path, settings=quick_settings), calibrate=False).to_json()
    assert bf16["status"] == "unsupported" and "fp32 only" in bf16["reason"]
