"""Structured pruning: removing inert units keeps outputs, exact parameter counts, architecture round trip,
score known answers, selection rules, ONNX export parity of the smaller models (layer dropping in detail:
test_pruning_depth.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.foundation.errors import ConfigError, HarnessError
from harness.models.base import ExportWrapper
from harness.models.registry import model_family
from harness.pruning.structured import (
    Part,
    UnitGroup,
    count_params,
    prune_structured,
    score_units,
    select_units,
)
from harness.tasks import make_task
from harness.variants.architecture import apply_architecture

# (family, layer prefix, attention paths Q/K/V/out, FFN in/out paths)
TEXT = {
    "bert-tiny": ("bert.encoder.layer", ("attention.self.query", "attention.self.key", "attention.self.value"),
                  "attention.output.dense", "intermediate.dense", "output.dense"),
    "minilm-tiny": ("bert.encoder.layer", ("attention.self.query", "attention.self.key", "attention.self.value"),
                    "attention.output.dense", "intermediate.dense", "output.dense"),
    "distilbert-tiny": ("distilbert.transformer.layer", ("attention.q_lin", "attention.k_lin", "attention.v_lin"),
                        "attention.out_lin", "ffn.lin1", "ffn.lin2"),
}
RESNET_CONVS = [  # resnet50-tiny inner convs: (name, channels)
    ("resnet.encoder.stages.0.layers.0.layer.0", 8), ("resnet.encoder.stages.0.layers.0.layer.1", 8),
    ("resnet.encoder.stages.1.layers.0.layer.0", 16), ("resnet.encoder.stages.1.layers.0.layer.1", 16),
]


def _logits(model, inputs):
    with torch.no_grad():
        return model(**inputs).logits


def _module(model, name):
    return model.get_submodule(name)


@pytest.mark.parametrize("name", list(TEXT))
def test_removing_zeroed_heads_keeps_logits(name):
    family = model_family(name)
    prefix, qkv, out, _, _ = TEXT[name]
    model = family.build(seed=0)
    config = family.make_config()
    heads = config.n_heads if name.startswith("distilbert") else config.num_attention_heads
    d = _module(model, f"{prefix}.0.{qkv[0]}").out_features // heads
    dead = {0: [heads - 1], 1: [0]}  # one head per layer made inert: 2 of 2 x heads
    with torch.no_grad():
        for layer, hs in dead.items():
            for h in hs:
                rows = slice(h * d, (h + 1) * d)
                for path in qkv:
                    _module(model, f"{prefix}.{layer}.{path}").weight[rows] = 0.0
                _module(model, f"{prefix}.{layer}.{out}").weight[:, rows] = 0.0
    inputs = family.example_inputs(3, seq_len=12, seed=7)
    inputs["attention_mask"][1, 9:] = 0  # padding on one row, so masking takes part
    before = _logits(model, inputs)
    pruned, arch = prune_structured(model, family, structure="heads", sparsity=2 / (2 * heads))
    assert arch["units_removed"] == 2 and arch["realised_sparsity"] == 2 / (2 * heads)
    assert arch["layers"][f"{prefix}.0"]["keep"] == list(range(heads - 1))
    assert arch["layers"][f"{prefix}.1"]["keep"] == list(range(1, heads))
    assert _module(pruned, f"{prefix}.0.{qkv[0]}").out_features == (heads - 1) * d
    attn = _module(pruned, f"{prefix}.0.attention" + (".self" if "self" in qkv[0] else ""))
    assert (attn.num_attention_heads if hasattr(attn, "num_attention_heads") else attn.n_heads) == heads - 1
    torch.testing.assert_close(_logits(pruned, inputs), before, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["bert-tiny", "distilbert-tiny"])
def test_removing_zeroed_neurons_keeps_logits(name):
    family = model_family(name)
    prefix, _, _, ffn_in, ffn_out = TEXT[name]
    model = family.build(seed=0)
    dead = {0: [3, 50, 127], 1: [0, 64, 100, 101, 120]}  # 8 of 256 neurons
    with torch.no_grad():
        for layer, ns in dead.items():
            _module(model, f"{prefix}.{layer}.{ffn_in}").weight[ns] = 0.0
            _module(model, f"{prefix}.{layer}.{ffn_out}").weight[:, ns] = 0.0
    inputs = family.example_inputs(2, seq_len=10, seed=3)
    before = _logits(model, inputs)
    pruned, arch = prune_structured(model, family, structure="neurons", sparsity=8 / 256)
    for layer, ns in dead.items():
        assert arch["layers"][f"{prefix}.{layer}"]["keep"] == [i for i in range(128) if i not in ns]
    assert _module(pruned, f"{prefix}.1.{ffn_in}").out_features == 123
    assert _module(pruned, f"{prefix}.1.{ffn_out}").in_features == 123
    torch.testing.assert_close(_logits(pruned, inputs), before, atol=1e-5, rtol=0)


def test_removing_zeroed_channels_keeps_logits():
    family = model_family("resnet50-tiny")
    model = family.build(seed=0)
    dead = {RESNET_CONVS[0][0]: [1, 6], RESNET_CONVS[1][0]: [0, 2, 7], RESNET_CONVS[2][0]: [5, 9, 15],
            RESNET_CONVS[3][0]: [0, 1, 2, 3]}  # 12 of 48 channels
    with torch.no_grad():
        for conv, cs in dead.items():
            base, _, i = conv.rpartition(".")
            _module(model, f"{conv}.convolution").weight[cs] = 0.0
            _module(model, f"{base}.{int(i) + 1}.convolution").weight[:, cs] = 0.0
    inputs = family.example_inputs(2, seed=1)
    before = _logits(model, inputs)
    pruned, arch = prune_structured(model, family, structure="channels", sparsity=0.25)
    assert arch["units_total"] == 48 and arch["units_removed"] == 12
    for conv, cs in dead.items():
        units = dict(RESNET_CONVS)[conv]
        assert arch["layers"][conv]["keep"] == [c for c in range(units) if c not in cs]
    assert _module(pruned, f"{RESNET_CONVS[3][0]}.normalization").num_features == 12
    torch.testing.assert_close(_logits(pruned, inputs), before, atol=1e-5, rtol=0)


def test_parameter_counts_drop_by_the_exact_amount():
    family = model_family("bert-tiny")  # hidden 64, 4 heads of 16, FFN 128, 2 layers
    model = family.build()
    dense = count_params(model)
    _, arch = prune_structured(model, family, structure="heads", sparsity=0.25)  # 2 of 8 heads
    per_head = 3 * (16 * 64 + 16) + 64 * 16  # Q/K/V rows with biases + attention-output columns
    assert arch["units_removed"] == 2
    assert dense - count_params(model) == 2 * per_head == arch["params_before"] - arch["params_after"]
    model = family.build()
    prune_structured(model, family, structure="neurons", sparsity=0.25)  # 64 of 256 neurons
    assert dense - count_params(model) == 64 * (64 + 1 + 64)

    resnet = model_family("resnet50-tiny")
    model = resnet.build()
    dense = count_params(model)
    conv0, conv1 = RESNET_CONVS[0][0], RESNET_CONVS[1][0]
    arch = {"schema_version": 1, "structure": "channels",
            "layers": {conv0: {"units": 8, "keep": [0, 1, 2, 3, 4, 5]}, conv1: {"units": 8, "keep": [0, 2, 3, 4, 5, 6, 7]}}}
    apply_architecture(model, resnet, arch)
    # conv0 1x1 16->8 => 16->6 (-32), its BN (-4); conv1 3x3 8->8 => 6->7 (-198), its BN (-2); conv2 1x1 8->32 => 7->32 (-32)
    assert dense - count_params(model) == 32 + 4 + (8 * 8 - 6 * 7) * 9 + 2 + 32


@pytest.mark.parametrize("name,structure,score", [
    ("bert-tiny", "heads", "taylor"), ("distilbert-tiny", "neurons", "second-order"),
    ("resnet50-tiny", "channels", "second-order"), ("minilm-tiny", "neurons", "magnitude"),
    ("distilbert-tiny", "layers", "taylor"),
])
def test_apply_architecture_round_trip(name, structure, score):
    family = model_family(name)
    model = family.build(seed=2)
    task = make_task(family, None, teacher=family.build(seed=2), seq_len=8 if family.kind == "text" else 16, max_eval=8)
    pruned, arch = prune_structured(model, family, structure=structure, sparsity=0.3, score=score, task=task,
                                    grad_batches=2, select="score")
    arch = json.loads(json.dumps(arch))
    rebuilt = apply_architecture(family.build(seed=99), family, arch)
    rebuilt.load_state_dict(pruned.state_dict(), strict=True)
    inputs = family.example_inputs(2, seq_len=8 if family.kind == "text" else 16, seed=4)
    assert torch.equal(_logits(rebuilt, inputs), _logits(pruned, inputs))
    # replayed on the same dense weights, the slicing gives the same model
    same = apply_architecture(family.build(seed=2), family, arch)
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(), pruned.state_dict().values()))


def test_realised_sparsity_is_nearest_achievable_and_every_layer_keeps_one():
    family = model_family("bert-tiny")
    _, arch = prune_structured(family.build(), family, structure="heads", sparsity=0.3)  # 2.4 of 8 heads
    assert arch["units_removed"] == 2 and arch["realised_sparsity"] == 0.25 and arch["target_sparsity"] == 0.3
    _, arch = prune_structured(family.build(), family, structure="heads", sparsity=0.95)  # 7.6 -> 8, at most 6
    assert arch["units_removed"] == 6
    assert [len(v["keep"]) for v in arch["layers"].values()] == [1, 1]


def test_score_units_known_answers_over_two_gradients():
    groups = [UnitGroup("a", 2, (Part("w", 0),))]
    params = {"w": torch.tensor([[1.0, 2.0], [3.0, 4.0]])}
    grads = [{"w": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}, {"w": torch.tensor([[1.0, 1.0], [-1.0, 1.0]])}]
    # taylor: unit 0: |1*1 + 2*0| = 1, |1 + 2| = 3 -> 2; unit 1: |4| = 4, |-3 + 4| = 1 -> 2.5
    assert score_units(groups, params, "taylor", grads)["a"].tolist() == [2.0, 2.5]
    # second-order: F_diag = mean g^2 = [[1, .5], [.5, 1]]; rho = 1/2 sum w^2 F -> [1.5, 10.25]
    got = score_units(groups, params, "second-order", grads, damping=0.0)["a"]
    assert got.tolist() == [1.5, 10.25]
    # magnitude with a per-unit scale (the BN factor) on the first part and a second part along axis 1
    groups = [UnitGroup("b", 2, (Part("w", 0, torch.tensor([2.0, 0.0])), Part("v", 1)))]
    params["v"] = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    got = score_units(groups, params, "magnitude")["b"]
    assert torch.allclose(got, torch.tensor([(4 * 5 + 5) ** 0.5, 0.0], dtype=torch.float64))


def test_select_units_is_global_with_ties_broken_in_order():
    scores = {"x": torch.tensor([0.5, 0.1, 0.9]), "y": torch.tensor([0.2, 0.1, 0.3, 0.0])}
    assert select_units(scores, 3 / 7) == {"x": [0, 2], "y": [0, 2]}
    assert select_units(scores, 2 / 7) == {"x": [0, 2], "y": [0, 1, 2]}  # 0.1 tie: group x goes first
    assert select_units(scores, 0.0) == {"x": [0, 1, 2], "y": [0, 1, 2, 3]}


@pytest.mark.parametrize("name,structure", [("bert-tiny", "heads"), ("distilbert-tiny", "neurons"),
                                            ("resnet50-tiny", "channels"), ("bert-tiny", "layers"),
                                            ("distilbert-tiny", "layers")])
def test_pruned_models_export_to_onnx_with_parity(tmp_path, name, structure):
    import onnxruntime as ort

    family = model_family(name)
    model, _ = prune_structured(family.build(), family, structure=structure, sparsity=0.5)
    inputs = family.example_inputs(2, seq_len=12 if family.kind == "text" else 32, seed=5)
    wrapper = ExportWrapper(model, family.input_names).eval()
    path = tmp_path / "model.onnx"
    torch.onnx.export(wrapper, tuple(inputs[n] for n in family.input_names), str(path), dynamo=False,
                      opset_version=17, input_names=list(family.input_names), output_names=["logits"],
                      dynamic_axes=family.dynamic_axes())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {n: inputs[n].numpy() for n in family.input_names})[0]
    np.testing.assert_allclose(got, _logits(model, inputs).numpy(), atol=1e-4, rtol=1e-4)


def test_errors_name_field_value_and_choices():
    bert = model_family("bert-tiny")
    with pytest.raises(ConfigError, match="structure 'channels' does not apply to text model 'bert-tiny'; valid choices: heads, neurons, layers"):
        prune_structured(bert.build(), bert, structure="channels", sparsity=0.5)
    with pytest.raises(ConfigError, match="unknown score 'hessian'; valid choices: magnitude, taylor, second-order"):
        prune_structured(bert.build(), bert, structure="heads", sparsity=0.5, score="hessian")
    with pytest.raises(ConfigError, match=r"sparsity: must be in \[0, 1\), got 1.0"):
        prune_structured(bert.build(), bert, structure="heads", sparsity=1.0)
    with pytest.raises(HarnessError, match="score 'taylor' needs gradients"):
        prune_structured(bert.build(), bert, structure="heads", sparsity=0.5, score="taylor")
    _, arch = prune_structured(bert.build(), bert, structure="heads", sparsity=0.5)
    pruned_twice = apply_architecture(bert.build(), bert, arch)
    with pytest.raises(HarnessError, match="units is 4 but the model has 2"):
        apply_architecture(pruned_twice, bert, arch)
    arch["layers"]["bert.encoder.layer.0"]["keep"] = [3, 1]
    with pytest.raises(HarnessError, match="keep: expected sorted distinct indices"):
        apply_architecture(bert.build(), bert, arch)
