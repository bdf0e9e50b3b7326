"""Variants on disk: round trips give the same outputs and the same id; writes are all-or-nothing."""

import json
import os

import pytest
import torch

from harness.foundation.errors import HarnessError
from harness.models.registry import model_family
from harness.pruning.criteria import Magnitude
from harness.pruning.masks import apply_masks
from harness.pruning.structured import prune_structured
from harness.pruning.structures import make_structure
from harness.variants.neural import VARIANT_SCHEMA_VERSION, load_variant, save_variant, variant_id

pytestmark = pytest.mark.usefixtures("torch_one_thread")


MANIFEST = {
    "method": "magnitude", "structure": "unstructured", "target_sparsity": 0.5,
    "realised_sparsity": {"overall": 0.5, "per_layer": {}}, "recipe": {}, "recipe_hash": "0" * 16,
    "seeds": {"model": 0}, "data": None, "wall_time_s": 0.1, "peak_rss_bytes": 1,
    "quality": {}, "architecture": None,
}


def pruned_bert_tiny():
    family = model_family("bert-tiny")
    model = family.build(seed=3)
    layers = family.prunable_layers(model)
    masks = make_structure("unstructured").masks(Magnitude(), {n: m.weight.detach() for n, m in layers.items()}, 0.5)
    apply_masks(layers, masks)
    return family, model


def outputs(model, family):
    with torch.no_grad():
        return model(**family.example_inputs(2, seed=1)).logits


def test_round_trip_same_outputs_same_id(tmp_path):
    family, model = pruned_bert_tiny()
    path = save_variant(model, "bert-tiny", MANIFEST, tmp_path / "v")
    assert sorted(os.listdir(path)) == ["manifest.json", "model.safetensors"]
    a, b = load_variant(path), load_variant(str(path))
    assert torch.equal(outputs(a.model, family), outputs(model, family))
    assert a.variant_id == b.variant_id == variant_id(path)
    assert len(a.variant_id) == 16
    assert not a.model.training
    assert a.model_name == "bert-tiny"
    m = a.manifest
    assert (m.schema_version, m.kind, m.model) == (VARIANT_SCHEMA_VERSION, "harness-variant", "bert-tiny")
    assert m.created_at and m.harness_version
    # zeros survive the trip exactly
    layers = family.prunable_layers(a.model)
    assert sum(int((l.weight == 0).sum()) for l in layers.values()) == sum(int((l.weight == 0).sum()) for l in family.prunable_layers(model).values())


def test_id_changes_with_weights_or_manifest(tmp_path):
    family, model = pruned_bert_tiny()
    first = variant_id(save_variant(model, "bert-tiny", MANIFEST, tmp_path / "a"))
    other = variant_id(save_variant(model, "bert-tiny", {**MANIFEST, "target_sparsity": 0.6}, tmp_path / "b"))
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    third = variant_id(save_variant(model, "bert-tiny", {**MANIFEST, "created_at": json.loads((tmp_path / "a" / "manifest.json").read_text())["created_at"]}, tmp_path / "c"))
    assert len({first, other, third}) == 3


def test_structured_variant_replays_its_architecture(tmp_path):
    family = model_family("bert-tiny")
    model, architecture = prune_structured(family.build(seed=0), family, structure="heads", sparsity=0.5)
    path = save_variant(model, "bert-tiny", {**MANIFEST, "structure": "heads", "architecture": architecture}, tmp_path / "v")
    loaded = load_variant(path)
    assert torch.equal(outputs(loaded.model, family), outputs(model, family))
    assert loaded.model.bert.encoder.layer[0].attention.self.query.out_features == model.bert.encoder.layer[0].attention.self.query.out_features


def test_replacing_a_variant_and_refusing_other_directories(tmp_path):
    family, model = pruned_bert_tiny()
    out = tmp_path / "v"
    first = variant_id(save_variant(model, "bert-tiny", MANIFEST, out))
    second = variant_id(save_variant(model, "bert-tiny", {**MANIFEST, "target_sparsity": 0.7}, out))
    assert first != second and json.loads((out / "manifest.json").read_text())["target_sparsity"] == 0.7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]  # no temporary or old directories left
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(HarnessError, match="exists and is not a variant directory"):
        save_variant(model, "bert-tiny", MANIFEST, other)
    assert (other / "keep.txt").read_text() == "mine"


def test_a_failed_write_leaves_the_old_variant_and_no_debris(tmp_path, monkeypatch):
    import safetensors.torch

    family, model = pruned_bert_tiny()
    out = save_variant(model, "bert-tiny", MANIFEST, tmp_path / "v")
    before = variant_id(out)

    def half_write(model, filename, **kwargs):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_model", half_write)
    with pytest.raises(OSError, match="disk full"):
        save_variant(model, "bert-tiny", {**MANIFEST, "target_sparsity": 0.9}, out)
    with pytest.raises(OSError):
        save_variant(model, "bert-tiny", MANIFEST, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]
    assert variant_id(out) == before


def test_version_1_manifest_layout_loads(tmp_path):
    # a manifest written by hand in the version-1 layout, with the dense seed-0 weights
    from safetensors.torch import save_model

    family = model_family("bert-tiny")
    d = tmp_path / "v1"
    d.mkdir()
    save_model(family.build(seed=0), str(d / "model.safetensors"))
    (d / "manifest.json").write_text(json.dumps({
        "schema_version": 1, "kind": "harness-variant", "model": "bert-tiny", "method": "magnitude",
        "structure": "unstructured", "target_sparsity": 0.0, "realised_sparsity": {"overall": 0.0, "per_layer": {}},
        "recipe": {}, "recipe_hash": "", "seeds": {}, "data": None, "wall_time_s": 0.0, "peak_rss_bytes": 0,
        "quality": {}, "architecture": None, "created_at": "2026-11-24T00:00:00+00:00",
        "harness_version": "0.1.0"}))
    v = load_variant(d)
    assert v.manifest.target_sparsity == 0.0 and v.manifest.schema_version == VARIANT_SCHEMA_VERSION
    assert torch.equal(outputs(v.model, family), outputs(family.build(seed=0), family))


@pytest.mark.parametrize("change,message", [
    ({"schema_version": 99}, "schema_version 99 was written by a newer harness"),
    ({"schema_version": 0}, "schema_version 0 is not a version this harness knows (reads 1, 2)"),
    ({"kind": "something"}, "kind: expected 'harness-variant', got 'something'"),
    ({"realised_sparsity": "half"}, "realised_sparsity: expected a mapping, got 'half'"),
    ({"quality": {"pruned": {"n": 64, "accuracy": "high"}}}, "quality.pruned.accuracy: expected a number, got 'high'"),
    ({"quality": {"pruned": {"accuracy": 0.9}}}, "quality.pruned: missing field 'n'"),
    ({"model": "gpt-9"}, "model 'gpt-9' is not a known model family"),
    ({"model": "distilbert-tiny"}, "weights do not fit model distilbert-tiny"),
])
def test_bad_variants_are_one_line_errors(tmp_path, change, message):
    family, model = pruned_bert_tiny()
    path = save_variant(model, "bert-tiny", MANIFEST, tmp_path / "v")
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, **change}))
    with pytest.raises(HarnessError) as info:
        load_variant(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_directory(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        load_variant(tmp_path / "nope")


# -- manifests of every version (tests/fixtures/formats, also read by tests/test_contracts.py), typed and migrated -------------------------------

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "formats")


def fixture(name: str) -> dict:
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def test_a_version_1_manifest_reads_through_its_migrations():
    from harness.contracts import ModelQuality, VariantManifest

    m = VariantManifest.from_json(fixture("variant-manifest-v1.json"))
    assert (m.schema_version, m.model, m.structure, m.scope) == (2, "bert-tiny", "heads", "global")
    assert (m.regime, m.stages, m.source, m.base, m.checkpoint) == (None, (), None, None, None)  # added in version 2
    assert m.realised_sparsity.overall == 0.5 and m.realised_sparsity.unit == "head"
    assert m.history[0].target == 0.5 and m.train_steps == 0 and m.timings_s == {"prune_s": 0.4}
    assert m.quality.pruned.top1_agreement == 0.8125 and m.quality.dense.n == 256 and m.quality.start is None
    # the version-1 architecture becomes one step of a version-2 one
    [step] = m.architecture.steps
    assert (m.architecture.schema_version, step.structure, step.units_total) == (2, "heads", 8)
    assert step.layers["bert.encoder.layer.0"].keep == (1, 2) and step.layers["bert.encoder.layer.1"].units == 4
    q = m.as_quality()
    assert (q.source, q.top1_agreement, q.kl_dense_pruned, q.examples, q.accuracy) == ("manifest", 0.8125, 0.0123, 256, None)
    assert q.details.dense == m.quality.dense == ModelQuality(n=256, top1_agreement=1.0)  # one type for one evaluation
    assert q.details.n == 256 and q.details.kl_dense_pruned == 0.0123


def test_a_version_2_manifest_reads_its_chain_and_steps():
    from harness.contracts import VariantManifest

    m = VariantManifest.from_json(fixture("variant-manifest-v2.json"))
    assert [s.structure for s in m.architecture.steps] == ["layers", "heads"]
    assert m.architecture.steps[0].layers["bert.encoder.layer"].keep == (0,) and m.architecture.steps[0].select == "alternate"
    assert [s.structure for s in m.stages] == ["layers", "heads"] and m.stages[1].history[0].realised == 0.5
    assert (m.source.variant_id, m.source.structure, m.regime) == ("0123456789abcdef", "layers", "one-shot")
    assert m.quality.start.accuracy == 0.5 and m.realised_sparsity.weights_vs_dense == 0.61
    from harness.variants.architecture import compose_architectures

    again = compose_architectures(m.architecture)  # what a variant pruned from this one stores: version 2 again
    assert again["schema_version"] == 2 and [s["layers"] for s in again["steps"]] == \
        [s["layers"] for s in fixture("variant-manifest-v2.json")["architecture"]["steps"]]
    based = VariantManifest.from_json({**fixture("variant-manifest-v2.json"), "model": "mine",
                                       "base": {"checkpoint": "ckpt/mine", "checkpoint_id": "abc"}})
    assert based.checkpoint == "ckpt/mine"


def test_a_version_1_tree_manifest_reads_typed():
    from harness.contracts import TreeVariantManifest, manifest_from_json

    m = manifest_from_json(fixture("tree-variant-manifest-v1.json"))
    assert isinstance(m, TreeVariantManifest)
    assert (m.model, m.alpha_index, m.leaves, m.full_nodes, m.split.n_test, m.split.stratified) == ("tree-wine", 3, 5, 17, 45, True)
    assert m.realised_sparsity.overall == pytest.approx(8 / 17) and m.metrics["cv_folds"] == 5
    q = m.as_quality()
    assert (q.accuracy, q.source, q.details["cv_accuracy"]) == (0.9111, "manifest", 0.92)


@pytest.mark.parametrize("name", ["variant-manifest-v1.json", "variant-manifest-v2.json"])
def test_older_manifests_load_replay_their_architecture_and_keep_their_id(tmp_path, name):
    """A directory with a manifest of each version and weights of the shapes its architecture gives: it loads
    strictly, gives the sliced model's outputs, and its id hashes the manifest as stored (migrating on read changes
    no id)."""
    import hashlib

    from safetensors.torch import save_model

    from harness.variants.architecture import apply_architecture

    family = model_family("bert-tiny")
    stored = fixture(name)
    model = apply_architecture(family.build(seed=0), family, stored["architecture"])
    d = tmp_path / "v"
    d.mkdir()
    save_model(model, str(d / "model.safetensors"))
    (d / "manifest.json").write_text(json.dumps(stored))
    v = load_variant(d)
    assert torch.equal(outputs(v.model, family), outputs(model, family))
    digest = hashlib.sha256(json.dumps(stored, sort_keys=True, separators=(",", ":")).encode())
    digest.update((d / "model.safetensors").read_bytes())
    assert v.variant_id == digest.hexdigest()[:16]


@pytest.mark.parametrize("change, message", [
    ({"schema_version": 3}, "architecture: schema_version 3 was written by a newer harness"),
    ({"schema_version": 1, "structure": "rows", "layers": {}}, "architecture: structure: unknown value 'rows'; valid choices: heads"),
    ({"schema_version": 2, "steps": []}, "architecture: steps: expected a non-empty list"),
    ({"schema_version": 1, "structure": "heads", "layers": {"bert.encoder.layer.0": {"units": 4, "keep": [2, 1]}}},
     "architecture.layers.bert.encoder.layer.0: keep: expected sorted distinct indices in [0, 4), got [2, 1]"),
    ({"schema_version": 1, "structure": "heads", "layers": {"bert.encoder.layer.0": {"units": 4, "keep": [0, 9]}}},
     "expected sorted distinct indices in [0, 4), got [0, 9]"),
])
def test_a_malformed_architecture_is_one_line_naming_the_field(change, message):
    from harness.contracts import RecordError, VariantManifest

    with pytest.raises(RecordError) as info:
        VariantManifest.from_json({**fixture("variant-manifest-v1.json"), "architecture": change})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_check_variant_finds_what_loading_would_without_reading_the_weights(tmp_path):
    """check_variant (before any work) refuses what load_variant would, one line each, and passes a sound variant."""
    from harness.variants.neural import check_variant

    family, model = pruned_bert_tiny()
    good = save_variant(model, "bert-tiny", MANIFEST, tmp_path / "good")
    assert check_variant(good, "bert-tiny").model == "bert-tiny"
    distil = model_family("distilbert-tiny")
    other = save_variant(distil.build(seed=0), "distilbert-tiny", MANIFEST, tmp_path / "distil")
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "manifest.json").write_bytes((good / "manifest.json").read_bytes())
    (truncated / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes()[:5000])
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    (swapped / "manifest.json").write_bytes((good / "manifest.json").read_bytes())
    (swapped / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    heads = {**json.loads((good / "manifest.json").read_text()), "architecture": json.loads(
        '{"schema_version": 1, "structure": "heads", "layers": {"bert.encoder.layer.0": {"units": 4, "keep": [0, 1]}}}')}
    sliced = tmp_path / "sliced"  # the manifest says heads were removed, the weights are the dense shapes
    sliced.mkdir()
    (sliced / "manifest.json").write_text(json.dumps(heads))
    (sliced / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes())
    cases = [
        (other, "bert-tiny", "was made from model 'distilbert-tiny', not 'bert-tiny'"),
        (truncated, None, "is not a readable safetensors file"),
        (swapped, None, "weights do not fit model bert-tiny"),
        (sliced, None, "weights do not fit model bert-tiny"),
    ]
    for path, model_name, message in cases:
        for check in (check_variant, load_variant):
            with pytest.raises(HarnessError) as info:
                check(path, model_name)
            assert message in str(info.value) and "\n" not in str(info.value), (path, str(info.value))
