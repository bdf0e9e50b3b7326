"""Post-training pruning (Kwon et al. 2022): mask variables that remove units exactly, per-example Fisher gradients,
the mask search and rearrangement with known answers, the latency fit, least-squares mask tuning, and variants of
BERT/MiniLM and DistilBERT checkpoints that load, with one-line refusals for what cannot be pruned."""

from __future__ import annotations

import json

import pytest
import torch

from harness.contracts import TaskSpec
from harness.foundation.errors import ConfigError, HarnessError
from harness.pruning.mask_fisher import mask_gradients
from harness.pruning.mask_search import CostModel, LatencyModel, flops_model, latency_model, rearrange, search
from harness.pruning.mask_tuning import fold_masks, tune_masks
from harness.pruning.post_training import Target, flops_floor
from harness.pruning.unit_masks import UnitMasks
from harness.variants.architecture import apply_architecture

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _model(kind: str):
    import transformers as t

    torch.manual_seed(0)
    if kind == "bert":
        config = t.BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                              intermediate_size=12, max_position_embeddings=32)
        return t.BertForSequenceClassification(config).eval()
    config = t.DistilBertConfig(vocab_size=100, dim=16, n_layers=2, n_heads=4, hidden_dim=12, max_position_embeddings=32)
    return t.DistilBertForSequenceClassification(config).eval()


class _Family:
    """What apply_architecture asks of a family (a text model of the given name)."""

    kind = "text"

    def __init__(self, name):
        self.name = name


def _batches(n_batches=3, rows=5, seq=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        ids = torch.randint(1, 100, (rows, seq), generator=g)
        mask = torch.ones(rows, seq, dtype=torch.long)
        mask[0, 4:] = 0  # one padded example
        out.append(({"input_ids": ids, "attention_mask": mask}, torch.randint(0, 2, (rows,), generator=g)))
    return out


def _architecture(masks, head_keep, neuron_keep):
    from harness.pruning.post_training import _architecture

    return _architecture(masks, head_keep, neuron_keep)


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_a_zero_mask_removes_the_unit_exactly(kind):
    model = _model(kind)
    masks = UnitMasks(model)
    head_keep, neuron_keep = [[0, 2], [1, 2, 3]], [[0, 5, 7], list(range(12))]
    inputs = _batches(1)[0][0]
    with torch.no_grad(), masks.applied():
        masks.heads = [torch.tensor([1.0 if h in k else 0.0 for h in range(4)]) for k in head_keep]
        masks.neurons = [torch.tensor([1.0 if n in k else 0.0 for n in range(12)]) for k in neuron_keep]
        masked = model(**inputs).logits
    apply_architecture(model, _Family(kind), _architecture(masks, head_keep, neuron_keep))
    with torch.no_grad():
        sliced = model(**inputs).logits
    assert torch.allclose(masked, sliced, atol=1e-5)
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in _model(kind).parameters())


def test_per_example_mask_gradients_add_up_to_the_batch_gradient():
    model = _model("bert")
    masks = UnitMasks(model)
    batches = _batches(2)
    grads = mask_gradients(model, masks, batches)
    assert grads.heads[0].shape == (10, 4) and grads.neurons[1].shape == (10, 12)
    # one shared mask: d(sum of losses)/dm is the sum of the per-example rows
    shared_h = [torch.ones(4, requires_grad=True) for _ in range(2)]
    shared_n = [torch.ones(12, requires_grad=True) for _ in range(2)]
    with masks.applied():
        masks.heads, masks.neurons = shared_h, shared_n
        total = sum(torch.nn.functional.cross_entropy(model(**x).logits, y, reduction="sum") for x, y in batches)
        total.backward()
    assert torch.allclose(shared_h[1].grad, grads.heads[1].sum(0), atol=1e-5)
    assert torch.allclose(shared_n[0].grad, grads.neurons[0].sum(0), atol=1e-5)
    assert torch.allclose(grads.head_importance()[0], grads.heads[0].double().pow(2).sum(0))
    assert all(p.requires_grad for p in model.parameters())  # weights untouched, gradients back on


def test_search_keeps_the_most_important_units_that_fit_the_budget():
    cost = CostModel("flops", 1, 10.0, 10.0, 1, 1.0, 1.0)  # a head costs 10, a neuron 1
    heads = [torch.tensor([5.0, 1.0, 0.1]), torch.tensor([4.0, 3.0, 0.2])]
    neurons = [torch.tensor([2.0, 2.0, 0.5, 0.0]), torch.tensor([1.0, 0.3, 0.2, 0.1])]
    # dense: 6 heads x 10 + 8 neurons = 68; floor: 2 x (10 + 1) = 22; budget 40: 18 spare
    found = search(cost, heads, neurons, 40.0)
    # one extra head (3.0, cost 10) + the 8 spare neurons' best 6 (2.0, 0.5, 0.3, 0.2, 0.1, 0.0) beats
    # no extra head + all 6 spare neurons (3.1 < 3.0 + ...); the floor keeps each layer's best head and neuron
    assert found.head_keep == [[0], [0, 1]]
    assert found.cost <= 40.0 and found.dense_cost == 68.0
    assert sorted(found.neuron_keep[0])[:1] == [0] and 0 in found.neuron_keep[1]
    with pytest.raises(ConfigError, match="removes nothing"):
        search(cost, heads, neurons, 68.0)
    with pytest.raises(ConfigError, match="removes everything"):
        search(cost, heads, neurons, 21.0)


def test_flops_model_counts_a_head_and_a_neuron():
    cost = flops_model(hidden=384, head_size=32, seq_len=64)
    assert cost.head_slope == 2 * (4 * 64 * 384 * 32 + 2 * 64 * 64 * 32)
    assert cost.neuron_slope == 2 * 2 * 64 * 384
    import transformers as t

    floor = flops_floor(t.BertConfig(hidden_size=384, num_attention_heads=12, intermediate_size=1536), 64)
    assert floor == pytest.approx(cost.layer_cost(1, 1) / cost.layer_cost(12, 1536))


def _pruned_loss(pruned, grads):
    return float(grads[:, pruned].double().sum(1).pow(2).sum()) if pruned else 0.0


def _reference_greedy(pruned_count, g):
    """The authors' greedy rearrangement, written out plainly (a set of vectors, recomputed sums)."""
    order = sorted(range(g.shape[1]), key=lambda i: float(g[:, i].pow(2).sum()))
    pruned = order[:pruned_count]
    for index in order[pruned_count:]:
        pruned.append(index)
        losses = [_pruned_loss([j for j in pruned if j != i], g) for i in pruned]
        del pruned[losses.index(min(losses))]
    return sorted(pruned)


def test_rearrangement_swaps_in_units_whose_gradients_cancel():
    g = torch.tensor([[1.0, -1.0, 0.6, 0.0, 0.7], [2.0, -2.0, 0.0, 0.6, 0.7], [-1.0, 1.0, 0.6, 0.6, 0.0]])
    # by the diagonal, units 2, 3, 4 (squared norms 0.72, 0.72, 0.98) go: joint loss 4.82. Unit 1 joins and unit 2
    # leaves, because 1 cancels part of 4: {1, 3, 4} sums to (-0.3, -0.7, 1.6), joint loss 3.14
    keep = rearrange([0, 1], g)
    pruned = [i for i in range(5) if i not in keep]
    assert keep == [0, 2] and pruned == [1, 3, 4]
    assert _pruned_loss(pruned, g) == pytest.approx(3.14) and _pruned_loss([2, 3, 4], g) == pytest.approx(4.82)
    assert rearrange([0, 1, 2, 3, 4], g) == [0, 1, 2, 3, 4]
    random = torch.randn(40, 12, generator=torch.Generator().manual_seed(3))
    for count in (3, 6, 9):
        kept = rearrange(list(range(12 - count)), random)
        assert sorted(set(range(12)) - set(kept)) == _reference_greedy(count, random)


def test_latency_fit_finds_the_flat_part_and_the_slope():
    units = [1, 2, 3, 4, 6, 8, 12]
    latency = [2.0, 2.0, 2.0, 2.5, 3.5, 4.5, 6.5]  # flat up to 3, then 0.5 ms per unit
    fit = LatencyModel.fit(units, latency)
    assert (fit.floor, fit.base, fit.slope) == (3, pytest.approx(2.0), pytest.approx(0.5))
    model = latency_model(fit, LatencyModel(floor=1, base=1.0, slope=0.01), layers=2, dense_ms=20.0,
                          total_heads=12, total_neurons=100)
    assert model.cost([12, 12], [100, 100]) == pytest.approx(20.0)
    assert model.cost([3, 3], [100, 100]) == pytest.approx(20.0 - 2 * 0.5 * 9)


def test_mask_tuning_lowers_each_layers_error_and_folding_matches_the_masks():
    model = _model("bert")
    masks = UnitMasks(model)
    batches = _batches(4)
    head_keep, neuron_keep = [[0, 1, 3], [0, 2]], [[1, 2, 4, 6, 8, 9], [0, 3, 5, 7, 11]]
    heads, neurons, report = tune_masks(model, masks, head_keep, neuron_keep, batches)
    for layer in report:
        for part in ("heads", "neurons"):
            assert layer[part]["error_after"] <= layer[part]["error_before"] + 1e-12
    assert any(layer[p]["status"] == "tuned" for layer in report for p in ("heads", "neurons"))
    assert all(float(h[[i for i in range(4) if i not in k]].abs().sum()) == 0 for h, k in zip(heads, head_keep))
    inputs = batches[0][0]
    with torch.no_grad(), masks.applied():
        masks.heads, masks.neurons = heads, neurons
        masked = model(**inputs).logits
    masks.clear()
    fold_masks(masks.parts, heads, neurons)
    apply_architecture(model, _Family("bert"), _architecture(masks, head_keep, neuron_keep))
    with torch.no_grad():
        assert torch.allclose(model(**inputs).logits, masked, atol=1e-5)


def test_nothing_pruned_means_nothing_to_tune():
    model = _model("distilbert")
    masks = UnitMasks(model)
    before = model(**_batches(1)[0][0]).logits
    heads, neurons, report = tune_masks(model, masks, [list(range(4))] * 2, [list(range(12))] * 2, _batches(2))
    assert all(layer["heads"]["error_before"] == pytest.approx(0.0, abs=1e-12) for layer in report)
    fold_masks(masks.parts, heads, neurons)
    assert torch.allclose(model(**_batches(1)[0][0]).logits, before, atol=1e-5)


def test_a_model_without_heads_and_neurons_is_refused_in_one_line():
    from harness.models.registry import model_family

    family = model_family("resnet50-tiny")
    with pytest.raises(ConfigError, match="no attention heads and FFN neurons"):
        UnitMasks(family.build(), family.name)


def test_targets_outside_zero_one_are_refused():
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ConfigError, match="target-flops"):
            Target(flops=bad)
    with pytest.raises(ConfigError, match="one target"):
        Target()


# -- variants of checkpoints ---------------------------------------------------------------------------
def _sst2(directory, n_train=120, n_dev=24):
    directory.mkdir()
    words = ["a fine warm film", "great fun", "a dull cold film", "boring mess", "lovely", "awful"]
    rows = [(f"{words[i % 6]} {i}", int(i % 6 in (0, 1, 4))) for i in range(n_train)]
    (directory / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    (directory / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows[:n_dev]))
    return directory


def _checkpoint(kind: str, directory):
    import transformers as t

    from harness.models.tokenizers import package_tokenizer

    torch.manual_seed(0)
    text = dict(vocab_size=30522, max_position_embeddings=64)
    if kind == "bert":
        model = t.BertForSequenceClassification(t.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                             intermediate_size=64, **text))
    else:
        model = t.DistilBertForSequenceClassification(t.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64, **text))
    model.eval().save_pretrained(directory)
    package_tokenizer().save_pretrained(directory)
    return directory


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_a_post_training_variant_of_a_checkpoint_saves_loads_and_says_what_it_did(tmp_path, kind):
    from harness.pruning.post_training_variant import PostTrainingPruner
    from harness.variants.neural import load_variant

    ckpt = _checkpoint(kind, tmp_path / "ckpt")
    pruner = PostTrainingPruner(str(ckpt), TaskSpec(name="sst2", data=str(_sst2(tmp_path / "sst2"))),
                                calibration_examples=48, heldout_examples=32, seq_len=16)
    path, manifest = pruner.make(Target(flops=0.5), tmp_path / "v50")
    assert manifest["method"] == "post-training" and manifest["structure"] == "heads+neurons"
    assert manifest["post_training"]["cost_fraction"] <= 0.5
    assert manifest["realised_sparsity"]["overall"] == pytest.approx(1 - manifest["post_training"]["cost_fraction"])
    assert set(manifest["timings_s"]) >= {"fisher_s", "search_s", "rearrange_s", "tune_s", "remove_s", "evaluate_s"}
    assert manifest["peak_rss_bytes"] > 0 and manifest["wall_time_s"] > 0
    assert manifest["quality"]["pruned"]["split"] == "train-heldout" and manifest["quality"]["pruned"]["n"] == 32
    assert manifest["post_training"]["flops_pruned"] < manifest["post_training"]["flops_dense"]
    # the calibration and held-back slices are disjoint positions of the training split
    assert not set(pruner.calibration.positions) & set(pruner.heldout.positions)
    variant = load_variant(path)
    inputs = {"input_ids": torch.randint(1000, 2000, (2, 16)), "attention_mask": torch.ones(2, 16, dtype=torch.long)}
    from safetensors.torch import load_file

    saved = load_file(str(path / "model.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in variant.model.state_dict().items() if k in saved)
    assert variant.model(**inputs).logits.shape == (2, 2)
    # a second target reuses the Fisher pass
    fisher = pruner.timings["fisher_s"]
    _, second = pruner.make(Target(flops=0.7), tmp_path / "v30")
    assert pruner.timings["fisher_s"] == fisher and second["timings_s"]["fisher_s"] == fisher
    assert json.loads((path / "manifest.json").read_text())["architecture"]["schema_version"] == 2


def test_a_resnet_checkpoint_is_refused_in_one_line(tmp_path):
    from harness.models.registry import model_family
    from harness.pruning.post_training_variant import PostTrainingPruner

    model = model_family("resnet50-tiny").build()
    model.save_pretrained(tmp_path / "resnet")
    with pytest.raises(HarnessError, match="heads|sst2|text"):
        PostTrainingPruner(str(tmp_path / "resnet"), TaskSpec(name="sst2", data=str(_sst2(tmp_path / "sst2"))))


def test_a_latency_target_prunes_with_a_table_measured_on_the_engine(tmp_path, monkeypatch):
    """The per-layer latency table is measured on the engine (probe variants timed like any configuration) and
    fitted; a latency target then either gives a variant the table says fits, or is refused in one line."""
    from harness.workflows import latency_table

    monkeypatch.setattr(latency_table, "ROUNDS", 1)
    monkeypatch.setattr(latency_table, "HEAD_FRACTIONS", (0.0, 0.5))
    monkeypatch.setattr(latency_table, "NEURON_FRACTIONS", (0.25, 0.5))
    monkeypatch.setattr(latency_table, "PROBE_SETTINGS", latency_table.PROBE_SETTINGS.replace(
        warmup_iters=2, warmup_s=0.0, min_iters=20, min_duration_s=0.05))
    ckpt = _checkpoint("bert", tmp_path / "ckpt")
    heads, neurons, dense_ms, describe = latency_table.measure_latency_table(str(ckpt), "onnxruntime", tmp_path / "lut",
                                                                             seq_len=16, echo=lambda m: None)
    assert dense_ms > 0 and heads.slope >= 0 and neurons.slope >= 0
    assert set(describe["layer_ms_vs_dense"]["heads"]) == {"1", "2", "4"} and describe["backend"] == "onnxruntime"
    assert describe["layer_ms_vs_dense"]["neurons"]["64"] == 0.0  # the dense layer is the reference
    try:
        path, manifest = latency_table.post_training_variant(
            str(ckpt), str(_sst2(tmp_path / "sst2")), tmp_path / "v", target_latency_ms=0.8 * dense_ms,
            backend="onnxruntime", seq_len=16, calibration_examples=32, heldout_examples=32, echo=lambda m: None)
    except ConfigError as exc:  # a table too flat to save 20%: refused in one line, nothing written
        assert "removes" in str(exc) and "\n" not in str(exc) and not (tmp_path / "v").exists()
    else:
        report = manifest["post_training"]
        assert report["cost_unit"] == "ms" and report["cost_after_search"] <= 0.8 * dense_ms + 1e-9
        assert report["target"]["latency_table"]["backend"] == "onnxruntime"
