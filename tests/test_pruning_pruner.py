"""The pruning loop on tiny models: realised sparsity for every method and structure, masks that survive
training, second-order under a memory budget, and the `harness prune` command end to end."""

import copy
import json
import zlib

import pytest
import torch

from harness.cli import main
from harness.foundation.errors import ConfigError, HarnessError
from harness.models.registry import model_family
from harness.pruning.masks import full_masks
from harness.pruning.pruner import Pruner, SecondOrderStep, make_variant
from harness.pruning.recipes import Recipe
from harness.pruning.structures import make_structure
from harness.tasks import make_task

pytestmark = pytest.mark.usefixtures("torch_one_thread")


FAST = {
    "second_order.num_grads": 4, "second_order.grad_batch_size": 2, "structured.grad_batches": 2,
    "finetune.batch_size": 4, "data.max_train": 32, "data.max_eval": 16,
}


def fast_recipe(**fields):
    overrides = {k: v for k, v in fields.items() if "." in k}
    plain = {k: v for k, v in fields.items() if "." not in k}
    return Recipe(**plain).with_overrides({**FAST, **overrides})


def run_pruner(model_name, recipe):
    family = model_family(model_name)
    r = recipe.resolved()
    model = family.build(seed=0)
    teacher = copy.deepcopy(model).eval()
    task = make_task(family, None, teacher=teacher, seed=0, max_train=32, max_eval=16)
    pruner = Pruner(family, r, task=task, teacher=teacher, progress=False)
    return family, pruner, pruner.run(model)


CASES = [
    (model, method, structure)
    for method in ("magnitude", "movement", "second-order")
    for model, structures in (("bert-tiny", ("unstructured", "block4", "2:4", "heads", "neurons")),
                              ("resnet50-tiny", ("unstructured", "block4", "2:4", "channels")))
    for structure in structures
]


@pytest.mark.parametrize("model_name,method,structure", CASES)
def test_realised_sparsity_matches_target(model_name, method, structure):
    target = 0.5 if structure in ("2:4", "heads", "neurons", "channels") else 0.7
    recipe = fast_recipe(method=method, structure=structure, sparsity=target, **{"schedule.warmup_steps": 2 if method == "movement" else 0})
    family, _, outcome = run_pruner(model_name, recipe)
    assert abs(outcome.realised_sparsity["overall"] - target) <= 0.005
    if outcome.masks is None:  # units physically removed
        assert outcome.architecture["structure"] == structure
        return
    layers = family.prunable_layers(outcome.model)
    for name, mask in outcome.masks.items():
        w = layers[name].weight
        assert torch.equal(w[~mask], torch.zeros(int((~mask).sum())))  # exactly zero where removed
    if structure == "2:4":
        for name, mask in outcome.masks.items():
            rows = make_structure("2:4")._grouped(mask)
            assert torch.equal(rows.sum(dim=2), torch.full(rows.shape[:2], 2))


@pytest.mark.parametrize("method", ["magnitude", "second-order"])
def test_per_layer_scope_hits_the_target_in_every_layer(method):
    recipe = fast_recipe(method=method, structure="unstructured", sparsity=0.6, scope="per-layer")
    _, _, outcome = run_pruner("bert-tiny", recipe)
    for name, fraction in outcome.realised_sparsity["per_layer"].items():
        assert abs(fraction - 0.6) <= 0.005, name


def test_gradual_masks_survive_training_and_only_grow():
    recipe = fast_recipe(method="magnitude", structure="unstructured", sparsity=0.8, **{
        "schedule.kind": "cubic", "schedule.steps": 6, "schedule.prune_every": 2, "finetune.steps": 3})
    family = model_family("bert-tiny")
    dense = family.build(seed=0)
    _, pruner, outcome = run_pruner("bert-tiny", recipe)
    assert [h["step"] for h in outcome.history] == [0, 2, 4, 6]
    targets = [h["target"] for h in outcome.history]
    assert targets == pytest.approx([0.0, 0.8 * (1 - (2 / 3) ** 3), 0.8 * (1 - (1 / 3) ** 3), 0.8], abs=1e-6)
    for h in outcome.history:
        assert abs(h["realised"] - h["target"]) <= 0.005
    assert outcome.train_steps == 6 + 3
    layers = family.prunable_layers(outcome.model)
    dense_layers = family.prunable_layers(dense)
    for name, mask in outcome.masks.items():
        w = layers[name].weight.detach()
        assert torch.equal(w != 0, mask)  # after 9 optimizer steps removed weights are still exactly zero
        assert not torch.equal(w[mask], dense_layers[name].weight.detach()[mask])  # and kept ones trained


def test_movement_scores_accumulate_over_every_training_step():
    recipe = fast_recipe(method="movement", structure="unstructured", sparsity=0.5, **{
        "schedule.kind": "cubic", "schedule.steps": 4, "schedule.prune_every": 2, "schedule.warmup_steps": 3,
        "finetune.steps": 2})
    _, pruner, outcome = run_pruner("bert-tiny", recipe)
    assert pruner.movement.steps == 3 + 4 + 2  # one continuous fine-tuning run: warm-up, cubic, cool-down
    assert [h["step"] for h in outcome.history] == [0, 2, 4, 6, 8, 9]
    assert abs(outcome.realised_sparsity["overall"] - 0.5) <= 0.005


def test_second_order_recovery_with_distillation_keeps_masks():
    recipe = fast_recipe(method="second-order", structure="block4", sparsity=0.5, **{"finetune.steps": 2})
    family, _, outcome = run_pruner("bert-tiny", recipe)
    layers = family.prunable_layers(outcome.model)
    for name, mask in outcome.masks.items():
        assert torch.equal(layers[name].weight.detach() != 0, mask)


# -- second-order under a memory budget ------------------------------------------------------------
def fixed_grads(layers):
    """A deterministic gradient source that does not depend on the weights (seeded by name and seed)."""
    calls = []

    def source(names, count, batch_size, seed):
        calls.append((tuple(names), seed))
        for i in range(count):
            out = {}
            for n in names:
                gen = torch.Generator().manual_seed(zlib.crc32(f"{n}|{seed}|{i}".encode()))
                out[n] = torch.randn(layers[n].weight.shape, generator=gen)
            yield out

    return source, calls


def so_step(model, budget_gb, *, scope="global", recomputations=1, structure="unstructured"):
    family = model_family("bert-tiny")
    layers = family.prunable_layers(model)
    spec = fast_recipe(method="second-order", structure=structure, sparsity=0.5, **{
        "second_order.num_grads": 6, "second_order.block_size": 16, "second_order.damping": 1e-3,
        "second_order.memory_budget_gb": budget_gb, "second_order.recomputations": recomputations}).resolved().second_order
    source, calls = fixed_grads(layers)
    step = SecondOrderStep(layers, make_structure(structure), spec, source)
    masks = step.run(0.5, scope, full_masks(layers), seed=0)
    return layers, masks, step, calls


@pytest.mark.parametrize("structure", ["unstructured", "block4"])
def test_memory_budget_groups_give_the_same_result_as_one_group(structure):
    family = model_family("bert-tiny")
    a_model, b_model = family.build(seed=0), family.build(seed=0)
    # bert-tiny layers hold 4096 or 8192 weights: 16-wide blocks need 262 or 524 kB each
    a_layers, a_masks, a_step, _ = so_step(a_model, 1.0, structure=structure)
    b_layers, b_masks, b_step, b_calls = so_step(b_model, 0.0011, structure=structure)
    groups = b_step.groups()
    assert len(groups) > 2 and len(a_step.groups()) == 1
    assert a_step.fisher_builds == 1
    assert b_step.fisher_builds == 2 * len(groups) - 1  # score every group, rebuild all but the last to update
    for name in a_masks:
        assert torch.equal(a_masks[name], b_masks[name])
        assert torch.allclose(a_layers[name].weight, b_layers[name].weight, atol=1e-6)
    assert {names for names, _ in b_calls} == {tuple(g) for g in groups}


def test_pruning_step_folds_every_gradient_of_the_stream():
    """Through the whole step (buffered Woodbury folds of 8): 11 gradients all count, the first included."""
    family = model_family("bert-tiny")

    def run(first_scale):
        model = family.build(seed=0)
        layers = family.prunable_layers(model)
        spec = fast_recipe(method="second-order", structure="unstructured", sparsity=0.5, **{
            "second_order.num_grads": 11, "second_order.block_size": 16, "second_order.damping": 1e-3}).resolved().second_order
        source, _ = fixed_grads(layers)

        def scaled(names, count, batch_size, seed):
            for i, g in enumerate(source(names, count, batch_size, seed)):
                yield {n: t * (first_scale if i == 0 else 1.0) for n, t in g.items()}

        step = SecondOrderStep(layers, make_structure("unstructured"), spec, scaled)
        crit = step._fisher(list(layers), full_masks(layers), seed=0)
        assert {f.count for f in crit.finv.values()} == {11}
        masks = step.run(0.5, "global", full_masks(layers), seed=0)
        return masks, {n: m.weight.detach().clone() for n, m in layers.items()}

    masks_a, weights_a = run(1.0)
    masks_b, weights_b = run(5.0)
    assert any(not torch.equal(masks_a[n], masks_b[n]) for n in masks_a)
    assert any(not torch.allclose(weights_a[n], weights_b[n]) for n in weights_a)


def test_per_layer_scope_builds_each_group_once():
    model = model_family("bert-tiny").build(seed=0)
    layers, masks, step, _ = so_step(model, 0.0011, scope="per-layer")
    assert step.fisher_builds == len(step.groups())
    for name, mask in masks.items():
        assert int((~mask).sum()) == mask.numel() // 2


def test_recomputations_reestimate_the_fisher_on_the_way():
    model = model_family("bert-tiny").build(seed=0)
    layers, masks, step, calls = so_step(model, 1.0, recomputations=3)
    assert step.fisher_builds == 3
    assert len({seed for _, seed in calls}) == 3  # fresh gradients each time
    total = sum(m.numel() for m in masks.values())
    assert abs(sum(int((~m).sum()) for m in masks.values()) / total - 0.5) <= 1 / total


def test_budget_smaller_than_one_layer_is_a_config_error():
    model = model_family("bert-tiny").build(seed=0)
    with pytest.raises(ConfigError, match="second_order.memory_budget_gb: layer .* needs"):
        so_step(model, 0.0001)


# -- make_variant and the CLI -------------------------------------------------------------------------
def sst2_dir(tmp_path):
    d = tmp_path / "sst2"
    d.mkdir()
    good = ["a great , moving film", "wonderful and warm", "the best acting of the year", "a delight"]
    bad = ["dull and tedious", "a terrible mess", "boring , lifeless script", "the worst film"]
    rows = [f"1\t{t}" for t in good] + [f"0\t{t}" for t in bad]
    (d / "train.tsv").write_text("label\tsentence\n" + "\n".join(rows * 2) + "\n")
    (d / "dev.tsv").write_text("label\tcontent\n" + "\n".join(rows) + "\n")
    return d


def test_make_variant_with_data_fine_tunes_dense_first_and_reports_dev_quality(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    recipe = fast_recipe(method="magnitude", structure="unstructured", sparsity=0.5, **{
        "dense.steps": 2, "dense.batch_size": 4, "finetune.steps": 1})
    path, manifest = make_variant("minilm-tiny", recipe, out_dir=tmp_path / "v", data_dir=str(sst2_dir(tmp_path)), progress=False)
    assert manifest["data"].startswith("sst2:")
    assert manifest["quality"]["dense"]["n"] == 8 and "accuracy" in manifest["quality"]["pruned"]
    assert manifest["quality"]["dense"]["top1_agreement"] == 1.0
    assert "dense_finetune_s" in manifest["timings_s"]
    assert len(list((tmp_path / "cache" / "finetune").iterdir())) == 1
    assert json.loads((path / "manifest.json").read_text())["recipe_hash"] == recipe.resolved().hash()


def test_pretrained_model_without_data_cannot_train(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    with pytest.raises(HarnessError) as info:
        make_variant("minilm", Recipe(method="movement", structure="unstructured", sparsity=0.5), out_dir=tmp_path / "v", progress=False)
    assert "--data DIR" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("model_name,structure", [("bert-tiny", "channels"), ("resnet50-tiny", "heads")])
def test_structure_that_does_not_fit_the_family(tmp_path, model_name, structure):
    with pytest.raises(ConfigError, match=f"structure '{structure}' does not apply"):
        make_variant(model_name, Recipe(method="magnitude", structure=structure, sparsity=0.5), out_dir=tmp_path / "v")


def test_cli_prune_writes_a_variant(tmp_path, capsys):
    out = tmp_path / "variant"
    code = main(["prune", "bert-tiny", "--method", "magnitude", "--sparsity", "0.75", "--structure", "unstructured",
                 "--scope", "per-layer", "--no-progress", "--out", str(out)])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["method"], manifest["structure"], manifest["target_sparsity"]) == ("magnitude", "unstructured", 0.75)
    assert manifest["realised_sparsity"]["overall"] == pytest.approx(0.75, abs=0.005)
    assert manifest["recipe"]["scope"] == "per-layer"
    assert manifest["wall_time_s"] > 0 and manifest["peak_rss_bytes"] > 0
    assert "variant:" in capsys.readouterr().out


def test_cli_recipe_flags_override_the_file(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("method: movement\nstructure: unstructured\nsparsity: 0.9\nschedule: {kind: cubic, steps: 50}\n")
    code = main(["prune", "bert-tiny", "--recipe", str(recipe), "--method", "magnitude", "--schedule", "oneshot",
                 "--sparsity", "0.6", "--no-progress", "--out", str(tmp_path / "v")])
    assert code == 0
    manifest = json.loads((tmp_path / "v" / "manifest.json").read_text())
    assert (manifest["method"], manifest["target_sparsity"], manifest["recipe"]["schedule"]["kind"]) == ("magnitude", 0.6, "oneshot")


@pytest.mark.parametrize("argv,message", [
    (["--method", "magnitude", "--structure", "2:4", "--sparsity", "0.8"],
     "harness: error: command line: sparsity: structure 2:4 removes exactly 0.5 of the weights, got 0.8; valid: 0.5"),
    (["--method", "magnitude", "--structure", "unstructured"], "harness: error: command line: sparsity: required"),
    (["--sparsity", "0.5"], "harness: error: command line: method: required; valid: magnitude, movement, second-order"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, message):
    code = main(["prune", "bert-tiny", *argv, "--out", str(tmp_path / "v")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1
