"""Layer dropping: which layers stay, layer scores, removal that equals a shallower model, architectures that
replay (alone and after other prunes), compound chains, --from, and the runner on the smaller models."""

import json

import pytest
import torch

from harness.cli import main
from harness.foundation.errors import ConfigError, HarnessError
from harness.models.registry import model_family
from harness.pruning import depth
from harness.pruning.pruner import make_variant
from harness.pruning.recipes import Recipe, bundled_recipes_dir
from harness.pruning.structured import prune_structured
from harness.tasks import make_task
from harness.variants.architecture import apply_architecture, compose_architectures
from harness.variants.neural import load_variant

pytestmark = pytest.mark.usefixtures("torch_one_thread")

STACKS = {"bert-tiny": "bert.encoder.layer", "minilm-tiny": "bert.encoder.layer",
          "distilbert-tiny": "distilbert.transformer.layer"}


def logits(model, family, seed=4):
    inputs = family.example_inputs(2, seq_len=10, seed=seed)
    inputs["attention_mask"][1, 7:] = 0
    with torch.no_grad():
        return model(**inputs).logits


# -- which layers stay ---------------------------------------------------------------------------------
def test_alternate_first_last_known_answers():
    assert depth.choose(12, sparsity=0.5) == [0, 2, 4, 6, 8, 10]  # oBERT's 6-layer model
    assert depth.choose(12, sparsity=0.75) == [0, 4, 8]  # and its 3-layer model
    assert depth.choose(6, sparsity=0.5) == [0, 2, 4]  # MiniLM
    assert depth.choose(12, sparsity=2 / 3) == [0, 3, 6, 9]
    assert depth.choose(12, sparsity=0.5, select="first") == [0, 1, 2, 3, 4, 5]
    assert depth.choose(12, sparsity=0.75, select="last") == [9, 10, 11]
    assert depth.choose(12, sparsity=0.0) == list(range(12))
    assert depth.choose(2, sparsity=0.99) == [0]  # every model keeps a layer
    assert depth.choose(12, keep=[5, 1]) == [1, 5]


def test_score_selection_keeps_the_highest_ties_to_the_lower_index():
    scores = torch.tensor([0.5, 2.0, 0.5, 1.0, 3.0, 0.5])
    assert depth.choose(6, sparsity=0.5, select="score", scores=scores) == [1, 3, 4]
    assert depth.choose(6, sparsity=4 / 6, select="score", scores=scores) == [1, 4]
    assert depth.choose(6, sparsity=0.2, select="score", scores=scores) == [0, 1, 2, 3, 4]  # 0.5 ties: index 5 goes


def test_keep_outside_the_model_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"^layers.keep: expected distinct layer indices in \[0, 5\] \(the model has 6 layers\), got \[0, 6\]$"):
        depth.choose(6, keep=[0, 6])


def test_layer_scores_known_answers_over_two_gradients():
    weights = [{"a": torch.tensor([[1.0, 2.0]]), "b": torch.tensor([[2.0]])}, {"c": torch.tensor([[3.0, 0.0]])}]
    grads = [{"a": torch.tensor([[1.0, 1.0]]), "b": torch.tensor([[-1.0]]), "c": torch.tensor([[1.0, 5.0]])},
             {"a": torch.tensor([[0.0, 1.0]]), "b": torch.tensor([[1.0]]), "c": torch.tensor([[-2.0, 0.0]])}]
    assert depth.score_layers(weights, "magnitude", damping=0.0).tolist() == pytest.approx([3.0, 3.0])
    # taylor: layer 0: |1 + 2 - 2| = 1, |2 + 2| = 4 -> 2.5; layer 1: |3| = 3, |-6| = 6 -> 4.5
    assert depth.score_layers(weights, "taylor", grads, damping=0.0).tolist() == [2.5, 4.5]
    # second-order: 1/2 mean_i sum w^2 g^2: layer 0: (1 + 4 + 4, 0 + 4 + 4) -> 8.5 / 2; layer 1: (9, 36) -> 22.5 / 2
    assert depth.score_layers(weights, "second-order", grads, damping=0.0).tolist() == [4.25, 11.25]


# -- removal ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(STACKS))
def test_dropping_a_layer_equals_the_shallower_model(name):
    """Layer 1 of 2 removed: the same function as a 1-layer model built with layer 0's weights."""
    family = model_family(name)
    model = family.build(seed=0)
    state = model.state_dict()
    pruned, arch = prune_structured(model, family, structure="layers", sparsity=0.5, select="first")
    assert arch["layers"] == {STACKS[name]: {"units": 2, "keep": [0], "removed_fraction": 0.5}}
    assert (arch["unit"], arch["select"], arch["realised_sparsity"], arch["score"]) == ("layer", "first", 0.5, None)
    config = family.make_config()
    if hasattr(config, "n_layers"):
        config.n_layers = 1
    else:
        config.num_hidden_layers = 1
    shallow = family.model_class()(config).eval()
    shallow.load_state_dict({k: v for k, v in state.items() if f"{STACKS[name]}.1." not in k}, strict=True)
    assert torch.equal(logits(pruned, family), logits(shallow, family))
    assert len(pruned.get_submodule(STACKS[name])) == 1
    assert getattr(pruned.config, "n_layers", None) == 1 or pruned.config.num_hidden_layers == 1


def test_kept_layers_are_renumbered():
    family = model_family("bert-tiny")
    pruned, _ = prune_structured(family.build(), family, structure="layers", sparsity=None, keep_layers=[1])
    assert pruned.bert.encoder.layer[0].attention.self.layer_idx == 0
    assert "bert.encoder.layer.0.attention.self.query.weight" in pruned.state_dict()
    assert not any(k.startswith("bert.encoder.layer.1.") for k in pruned.state_dict())


def test_taylor_layer_scores_need_a_task_and_pick_by_score():
    family = model_family("minilm-tiny")
    with pytest.raises(HarnessError, match="score 'taylor' needs gradients"):
        prune_structured(family.build(), family, structure="layers", sparsity=0.5, select="score", score="taylor")
    model = family.build(seed=1)
    task = make_task(family, None, teacher=family.build(seed=1), seq_len=8, max_eval=8)
    _, arch = prune_structured(model, family, structure="layers", sparsity=0.5, select="score", score="taylor",
                               task=task, grad_batches=2)
    assert arch["score"] == "taylor" and arch["select"] == "score" and arch["units_removed"] == 1


def test_architecture_replays_on_a_fresh_dense_model_alone_and_composed():
    family = model_family("bert-tiny")
    model, layers_arch = prune_structured(family.build(seed=3), family, structure="layers", sparsity=None, keep_layers=[1])
    model, heads_arch = prune_structured(model, family, structure="heads", sparsity=0.5)
    assert list(heads_arch["layers"]) == ["bert.encoder.layer.0"]  # the kept layer under its new name
    arch = json.loads(json.dumps(compose_architectures(layers_arch, None, heads_arch)))
    assert arch["schema_version"] == 2 and [s["structure"] for s in arch["steps"]] == ["layers", "heads"]
    rebuilt = apply_architecture(family.build(seed=99), family, arch)
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    assert torch.equal(logits(rebuilt, family), logits(model, family))
    assert compose_architectures(None, layers_arch) is layers_arch and compose_architectures(None) is None
    with pytest.raises(HarnessError, match=r"architecture.steps\[2\].layers\['bert.encoder.layer.0'\].units is 4 but the model has 2 heads"):
        apply_architecture(family.build(), family, {"schema_version": 2, "steps": [layers_arch, heads_arch, heads_arch]})


# -- through the pruner, the manifest and load_variant ---------------------------------------------------
FAST = {"finetune": {"steps": 2, "batch_size": 4}, "data": {"max_train": 32, "max_eval": 16}}


def test_layer_variant_manifest_and_round_trip(tmp_path):
    recipe = Recipe.from_dict({"method": "magnitude", "structure": "layers", "sparsity": 0.5, **FAST})
    path, manifest = make_variant("distilbert-tiny", recipe, out_dir=tmp_path / "v", progress=False)
    rs = manifest["realised_sparsity"]
    assert (manifest["structure"], manifest["target_sparsity"], rs["overall"], rs["unit"]) == ("layers", 0.5, 0.5, "layer")
    assert rs["weights_overall"] == 0.5 and rs["weights_vs_dense"] == 0.5  # both layers hold the same weights
    assert manifest["train_steps"] == 2 and manifest["architecture"]["select"] == "alternate"
    v = load_variant(path)
    assert v.model.config.n_layers == 1 and len(v.model.distilbert.transformer.layer) == 1
    assert "stages" not in manifest and "source" not in manifest


def test_chain_layers_then_unstructured_in_one_recipe(tmp_path):
    recipe = Recipe.from_dict({
        "method": "magnitude", "structure": "layers", "layers": {"keep": [1]}, **FAST,
        "then": {"method": "magnitude", "sparsity": 0.8, "finetune": {"steps": 2, "batch_size": 4}},
    })
    path, manifest = make_variant("bert-tiny", recipe, out_dir=tmp_path / "v", progress=False)
    assert (manifest["method"], manifest["structure"], manifest["target_sparsity"]) == ("magnitude", "layers+unstructured", 0.8)
    assert abs(manifest["realised_sparsity"]["overall"] - 0.8) <= 0.005
    assert abs(manifest["realised_sparsity"]["weights_vs_dense"] - 0.9) <= 0.005  # half the layers, then 80% of the rest
    assert [s["structure"] for s in manifest["stages"]] == ["layers", "unstructured"] and manifest["train_steps"] == 4
    assert manifest["architecture"]["structure"] == "layers"  # one structural step
    v = load_variant(path)
    family = model_family("bert-tiny")
    layers = family.prunable_layers(v.model)
    zeros = sum(int((m.weight == 0).sum()) for m in layers.values()) / sum(m.weight.numel() for m in layers.values())
    assert abs(zeros - 0.8) <= 0.005


def test_from_variant_keeps_its_zeros_and_composes_its_architecture(tmp_path, capsys):
    first = tmp_path / "mag50"
    assert main(["prune", "bert-tiny", "--method", "magnitude", "--sparsity", "0.5", "--no-progress", "--out", str(first)]) == 0
    second = tmp_path / "mag50-l1"
    recipe = Recipe.from_dict({"method": "magnitude", "structure": "layers", "layers": {"keep": [0]}, **FAST})
    path, manifest = make_variant("bert-tiny", recipe, out_dir=second, start_from=str(first), progress=False)
    assert manifest["structure"] == "unstructured+layers" and manifest["source"]["path"] == str(first)
    assert [s["structure"] for s in manifest["stages"]] == ["unstructured", "layers"]
    assert "start" in manifest["quality"]
    family = model_family("bert-tiny")
    layers = family.prunable_layers(load_variant(path).model)
    zeros = sum(int((m.weight == 0).sum()) for m in layers.values()) / sum(m.weight.numel() for m in layers.values())
    assert abs(zeros - 0.5) <= 0.01  # two recovery steps later the removed weights are still exactly zero
    third = tmp_path / "mag50-l1-heads"
    assert main(["prune", "bert-tiny", "--method", "magnitude", "--structure", "heads", "--sparsity", "0.5",
                 "--from", str(second), "--no-progress", "--out", str(third)]) == 0
    m3 = json.loads((third / "manifest.json").read_text())
    assert m3["structure"] == "unstructured+layers+heads"
    assert [s["structure"] for s in m3["architecture"]["steps"]] == ["layers", "heads"]
    assert load_variant(third).model.bert.encoder.layer[0].attention.self.num_attention_heads == 2
    with pytest.raises(ConfigError, match="--from: variant .* was made from model 'bert-tiny', not 'distilbert-tiny'"):
        make_variant("distilbert-tiny", recipe, out_dir=tmp_path / "x", start_from=str(first), progress=False)


def test_cli_layers_and_the_readme_example_without_structure(tmp_path, capsys):
    out = tmp_path / "plain"
    assert main(["prune", "bert-tiny", "--method", "magnitude", "--sparsity", "0.9", "--no-progress", "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["structure"] == "unstructured"
    out = tmp_path / "l1"
    assert main(["prune", "distilbert-tiny", "--method", "magnitude", "--structure", "layers", "--keep-layers", "1",
                 "--no-progress", "--out", str(out)]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["architecture"]["layers"] == {"distilbert.transformer.layer": {"units": 2, "keep": [1], "removed_fraction": 0.5}}
    assert "layers" in capsys.readouterr().out
    # a flag replaces the recipe's way of choosing layers: --keep-layers its sparsity, --sparsity its list
    from harness.cli import build_parser
    from harness.commands.prune import recipe_from_args

    bundled = str(bundled_recipes_dir() / "layers-alternate-50-kd.yaml")
    args = build_parser().parse_args(["prune", "bert-tiny", "--recipe", bundled, "--keep-layers", "0,1", "--out", "x"])
    r = recipe_from_args(args).resolved()
    assert (r.sparsity, r.layers.keep) == (None, [0, 1])
    recipe = tmp_path / "keep.yaml"
    recipe.write_text("method: magnitude\nstructure: layers\nlayers: {keep: [0]}\n")
    args = build_parser().parse_args(["prune", "bert-tiny", "--recipe", str(recipe), "--sparsity", "0.5", "--out", "x"])
    r = recipe_from_args(args).resolved()
    assert (r.sparsity, r.layers.keep) == (0.5, None)


@pytest.mark.parametrize("argv,message", [
    (["--structure", "layers", "--keep-layers", "0,x"],
     "harness: error: --keep-layers: expected comma-separated layer indices such as 0,2,4, got '0,x'"),
    (["--structure", "layers", "--keep-layers", "0,5"],
     "harness: error: layers.keep: expected distinct layer indices in [0, 1] (the model has 2 layers), got [0, 5]"),
    (["--structure", "layers", "--keep-layers", "0", "--sparsity", "0.5"],
     "harness: error: command line: sparsity: layers.keep [0] decides which layers stay"),
    (["--sparsity", "0.5", "--from", "nowhere"], "harness: error: variant directory 'nowhere' does not exist"),
])
def test_cli_layer_errors_are_one_line(tmp_path, capsys, argv, message):
    code = main(["prune", "bert-tiny", "--method", "magnitude", "--no-progress", *argv, "--out", str(tmp_path / "v")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1


# -- every engine runs the shallower model -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["bert-tiny", "distilbert-tiny"])
def test_layer_dropped_variants_run_on_onnxruntime_and_openvino(tmp_path, name, quick_settings):
    from harness.contracts import BenchConfig
    from harness.measure.bench import measure

    recipe = Recipe.from_dict({"method": "magnitude", "structure": "layers", "sparsity": 0.5})
    path, _ = make_variant(name, recipe, out_dir=tmp_path / "v", progress=False)
    dense_flops = None
    for backend in ("onnxruntime", "openvino"):
        r = measure(BenchConfig(model=name, backend=backend, seq_len=16, variant=str(path), settings=quick_settings),
                    calibrate=False)
        assert r.status == "ok", r.reason
        assert r.metrics.parity.ok and r.metrics.parity.top1_agreement == 1.0
        assert r.config.structure == "layers" and r.config.sparsity == 0.5
        dense_flops = dense_flops or model_family(name).flops(model_family(name).build(), 1, 16)
        assert r.metrics.flops_per_inference < dense_flops
