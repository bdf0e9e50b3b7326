"""Matrix files: validation messages name the key path; expansion and sharding are deterministic."""

import pytest

from harness.foundation.errors import ConfigError
from harness.measure.matrix import expand, load_matrix, parse_shard, shard, validate_matrix

GOOD = {"models": ["bert-tiny", "resnet50-tiny"], "backends": ["torch", "onnxruntime"], "threads": [1, 2],
        "batch_sizes": [1], "seq_lens": [16, 32]}


def test_expand_product_and_image_models_ignore_seq():
    configs = expand(validate_matrix(GOOD))
    text = [c for c in configs if c.model == "bert-tiny"]
    image = [c for c in configs if c.model == "resnet50-tiny"]
    assert len(text) == 2 * 2 * 2
    assert len(image) == 2 * 2  # one image size, not one per seq_len
    assert {c.seq_len for c in image} == {32}


@pytest.mark.parametrize("change, message", [
    ({"modles": ["x"]}, "unknown key 'modles'; valid keys: models"),
    ({"threads": [1, "two"]}, "threads[1]: expected a positive integer, got 'two'"),
    ({"threads": [0]}, "threads[0]: expected a positive integer, got 0"),
    ({"models": "bert-tiny"}, "models: expected a non-empty list"),
    ({"backends": ["torch", "tensorflow"]}, "backends[1]: unknown value 'tensorflow'; valid: torch, onnxruntime"),
    ({"scenario": "batch"}, "scenario: unknown value 'batch'"),
    ({"settings": {"min_iter": 3}}, "settings.min_iter: unknown setting"),
    ({"settings": {"min_iters": "3"}}, "settings.min_iters: expected a positive integer, got '3'"),
    ({"precisions": ["fp16"]}, "precisions[0]: unknown value 'fp16'; valid: fp32, bf16"),
])
def test_validation_names_the_key_path(change, message):
    with pytest.raises(ConfigError) as err:
        validate_matrix(GOOD | change, "m.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("m.yaml: ")
    assert "\n" not in str(err.value)


def test_missing_required_key():
    bad = dict(GOOD)
    del bad["backends"]
    with pytest.raises(ConfigError, match="missing key 'backends'"):
        validate_matrix(bad)


def test_load_matrix_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_matrix(tmp_path / "nope.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("models: [bert-tiny\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_matrix(p)
    p.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_matrix(p)


def test_shards_partition_the_matrix_exactly():
    configs = expand(validate_matrix(GOOD))
    parts = [shard(configs, (i, 3)) for i in (1, 2, 3)]
    hashes = [c.config_hash(c.variant) for part in parts for c in part]
    assert sorted(hashes) == sorted(c.config_hash(c.variant) for c in configs)
    assert len(set(hashes)) == len(hashes)
    # deterministic and independent of the order of the list
    assert [c.config_hash(None) for c in shard(list(reversed(configs)), (2, 3))] == \
        [c.config_hash(None) for c in reversed(shard(configs, (2, 3)))]


@pytest.mark.parametrize("text", ["0/2", "3/2", "a/b", "1"])
def test_bad_shard_spec(text):
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(text)


def test_config_identity_ignores_defaults_so_new_fields_keep_old_hashes():
    from harness.contracts import BenchConfig, Settings

    a = BenchConfig(model="bert-tiny", backend="torch")
    b = BenchConfig(model="bert-tiny", backend="torch", checkpoint=None, settings=Settings())
    assert a.config_hash() == b.config_hash()
    assert "checkpoint" not in a.identity() and "settings" not in a.identity()
    c = BenchConfig(model="bert-tiny", backend="torch", settings=Settings(min_iters=7))
    assert c.identity()["settings"] == {"min_iters": 7}
    assert c.config_hash() != a.config_hash()
    # the instance type does not make a different measurement
    assert BenchConfig(model="bert-tiny", backend="torch", instance_type="c7a.large").config_hash() == a.config_hash()
