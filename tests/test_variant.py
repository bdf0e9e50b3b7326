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
    "quality": {"dense": {}, "pruned": {}}, "architecture": None,
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
    assert (m["schema_version"], m["kind"], m["model"]) == (VARIANT_SCHEMA_VERSION, "harness-variant", "bert-tiny")
    assert m["created_at"] and m["harness_version"]
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
    with pytest.raises(HarnessError, match="is not a variant directory"):
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
        "quality": {"dense": {}, "pruned": {}}, "architecture": None, "created_at": "2026-11-24T00:00:00+00:00",
        "harness_version": "0.1.0"}))
    v = load_variant(d)
    assert v.manifest["target_sparsity"] == 0.0
    assert torch.equal(outputs(v.model, family), outputs(family.build(seed=0), family))


@pytest.mark.parametrize("change,message", [
    ({"schema_version": 99}, "schema_version 99 is not readable"),
    ({"kind": "something"}, "kind is 'something', expected 'harness-variant'"),
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
