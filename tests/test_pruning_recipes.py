"""Recipes: validation names the file, the field path, the value and the valid choices, in one line."""

from pathlib import Path

import pytest

from harness.foundation.errors import ConfigError
from harness.pruning.recipes import Recipe, bundled_recipes_dir, load_recipe


def write(tmp_path, monkeypatch, text, name="recipe.yaml"):
    monkeypatch.chdir(tmp_path)
    Path(name).write_text(text)
    return name


def error(tmp_path, monkeypatch, text):
    path = write(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError) as info:
        load_recipe(path).resolved(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_schedule_kind(tmp_path, monkeypatch):
    msg = error(tmp_path, monkeypatch, "method: magnitude\nschedule:\n  kind: cubicc\n")
    assert msg == "recipe.yaml: schedule.kind: unknown value 'cubicc'; valid: oneshot, cubic"


@pytest.mark.parametrize("text,expected", [
    ("methd: magnitude\n", "recipe.yaml: unknown key 'methd'; valid keys: method, structure, sparsity, scope, schedule, "
                           "finetune, distillation, second_order, structured, movement, layers, then, description, "
                           "dense, data, seed"),
    ("finetune: {stepz: 3}\n", "recipe.yaml: finetune.stepz: unknown key; valid: steps, lr, batch_size"),
    ("method: magnitud\n", "recipe.yaml: method: unknown value 'magnitud'; valid: magnitude, movement, second-order"),
    ("structure: 4:8x\n", "recipe.yaml: structure: unknown value '4:8x'; valid: unstructured, block4, 2:4, heads, neurons, channels, layers"),
    ("structure: 2:4\n", "recipe.yaml: structure: unknown value 124 (YAML reads an unquoted 2:4 as the number 124: quote it); "
                          "valid: unstructured, block4, 2:4, heads, neurons, channels, layers"),
    ("sparsity: 1.5\n", "recipe.yaml: sparsity: expected a number in [0.0, 1.0), got 1.5"),
    ("sparsity: lots\n", "recipe.yaml: sparsity: expected a number, got 'lots'"),
    ("finetune: {steps: -1}\n", "recipe.yaml: finetune.steps: expected an integer >= 0, got -1"),
    ("second_order: {num_grads: 2.5}\n", "recipe.yaml: second_order.num_grads: expected an integer >= 1, got 2.5"),
    ("second_order: {damping: 0}\n", "recipe.yaml: second_order.damping: expected a number in (0.0, 1000000.0], got 0.0"),
    ("scope: local\n", "recipe.yaml: scope: unknown value 'local'; valid: global, per-layer"),
    ("schedule: cubic\n", "recipe.yaml: schedule: expected a mapping, got 'cubic'"),
    ("seed: true\n", "recipe.yaml: seed: expected an integer >= 0, got True"),
    ("movement: {variant: medium}\n", "recipe.yaml: movement.variant: unknown value 'medium'; valid: hard, soft"),
    ("movement: {threshold: 1.5}\n", "recipe.yaml: movement.threshold: expected a number in (0.0, 1.0), got 1.5"),
    ("layers: {select: middle}\n", "recipe.yaml: layers.select: unknown value 'middle'; valid: alternate, first, last, score"),
    ("layers: {keep: [0, 2, 2]}\n", "recipe.yaml: layers.keep: expected distinct layer indices, got [0, 2, 2]"),
    ("layers: {keep: '0,2'}\n", "recipe.yaml: layers.keep: expected a non-empty list of layer indices >= 0 such as "
                                 "[0, 2, 4], got '0,2'"),
    ("then: {schedule: {kind: cubicc}}\n", "recipe.yaml: then.schedule.kind: unknown value 'cubicc'; valid: oneshot, cubic"),
    ("then: {seed: 3}\n", "recipe.yaml: then.seed: unknown key; valid: method, structure, sparsity, scope, schedule, "
                          "finetune, distillation, second_order, structured, movement, layers, then, description"),
])
def test_field_errors(tmp_path, monkeypatch, text, expected):
    path = write(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    assert str(info.value) == expected


@pytest.mark.parametrize("text,fragment", [
    ("structure: unstructured\nsparsity: 0.5\n", "recipe.yaml: method: required; valid: magnitude, movement, second-order"),
    ("method: magnitude\nstructure: unstructured\n", "recipe.yaml: sparsity: required"),
    ("method: magnitude\nstructure: '2:4'\nsparsity: 0.8\n",
     "recipe.yaml: sparsity: structure 2:4 removes exactly 0.5 of the weights, got 0.8; valid: 0.5"),
    ("method: magnitude\nstructure: heads\nsparsity: 0.5\nschedule: {kind: cubic, steps: 10}\n",
     "recipe.yaml: schedule.kind: 'cubic' is not supported with structure heads; valid: oneshot"),
    ("method: magnitude\nstructure: unstructured\nsparsity: 0.5\nschedule: {kind: cubic}\n",
     "recipe.yaml: schedule.steps: a cubic schedule needs steps >= 1"),
    ("method: magnitude\nstructure: unstructured\nsparsity: 0.5\nschedule: {kind: cubic, steps: 5, initial_sparsity: 0.6}\n",
     "recipe.yaml: schedule.initial_sparsity: 0.6 exceeds the target sparsity 0.5"),
    ("method: second-order\nstructure: block4\nsparsity: 0.5\nsecond_order: {block_size: 50}\n",
     "recipe.yaml: second_order.block_size: 50 is not a multiple of the block4 group size 4"),
    ("method: magnitude\nstructure: layers\nsparsity: 0.5\nlayers: {keep: [0, 2]}\n",
     "recipe.yaml: sparsity: layers.keep [0, 2] decides which layers stay; leave sparsity out, got 0.5"),
    ("method: magnitude\nstructure: heads\nsparsity: 0.5\nlayers: {keep: [0]}\n",
     "recipe.yaml: layers.keep: applies to structure layers only, not heads"),
    ("method: magnitude\nstructure: layers\nsparsity: 0.5\nschedule: {kind: cubic, steps: 4}\n",
     "recipe.yaml: schedule.kind: 'cubic' is not supported with structure layers; valid: oneshot"),
    ("method: movement\nsparsity: 0.5\nmovement: {variant: soft}\n",
     "recipe.yaml: movement.variant: 'soft' learns its scores during a gradual schedule; valid with schedule.kind: cubic"),
    ("method: movement\nstructure: block4\nsparsity: 0.5\nschedule: {kind: cubic, steps: 4}\nmovement: {variant: soft}\n",
     "recipe.yaml: movement.variant: 'soft' thresholds single weights, not structure block4; valid structure: unstructured"),
    ("method: movement\nsparsity: 0.5\nschedule: {kind: cubic, steps: 4, initial_sparsity: 0.3}\n",
     "recipe.yaml: schedule.warmup_steps: movement has no scores before its first step"),
    ("method: magnitude\nsparsity: 0.5\nthen: {method: magnitude}\n", "recipe.yaml: then.sparsity: required"),
    ("method: magnitude\nsparsity: 0.5\nthen: {sparsity: 0.5}\n", "recipe.yaml: then.method: required"),
])
def test_cross_field_errors(tmp_path, monkeypatch, text, fragment):
    assert error(tmp_path, monkeypatch, text).startswith(fragment)


def test_defaults_resolve():
    # the structure defaults to unstructured (`harness prune M --method magnitude --sparsity 0.9` needs no --structure)
    assert Recipe(method="magnitude", sparsity=0.9).resolved().structure == "unstructured"
    r = Recipe(method="second-order", structure="block4", sparsity=0.8).resolved()
    assert r.second_order.block_size == 32
    assert Recipe(method="second-order", structure="unstructured", sparsity=0.8).resolved().second_order.block_size == 50
    assert Recipe(method="magnitude", structure="2:4").resolved().sparsity == 0.5
    # a one-shot movement prune gathers its scores during a short fine-tune first
    assert Recipe(method="movement", structure="unstructured", sparsity=0.5).resolved().schedule.warmup_steps == 32
    assert Recipe(method="magnitude", structure="unstructured", sparsity=0.5).resolved().schedule.warmup_steps == 0


def test_yaml_exponent_without_dot_is_a_number(tmp_path, monkeypatch):
    path = write(tmp_path, monkeypatch, "finetune: {lr: 3e-5}\n")
    assert load_recipe(path).finetune.lr == 3e-5


def test_overrides_replace_fields_and_are_validated():
    base = Recipe.from_dict({"method": "magnitude", "structure": "unstructured", "sparsity": 0.9, "schedule": {"kind": "oneshot"}})
    r = base.with_overrides({"sparsity": 0.7, "schedule.kind": "cubic", "schedule.steps": 20, "scope": None})
    assert (r.sparsity, r.schedule.kind, r.schedule.steps, r.scope) == (0.7, "cubic", 20, "global")
    with pytest.raises(ConfigError, match="^command line: sparsity: expected a number in"):
        base.with_overrides({"sparsity": 2.0})


def test_hash_follows_content():
    a = Recipe(method="magnitude", structure="unstructured", sparsity=0.9)
    assert a.hash() == Recipe.from_dict(a.to_dict()).hash()
    assert a.hash() != a.with_overrides({"finetune.steps": 1}).hash()
    assert len(a.hash()) == 16


def test_file_problems(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="recipe file 'missing.yaml' does not exist"):
        load_recipe("missing.yaml")
    path = write(tmp_path, monkeypatch, "- a\n- b\n")
    with pytest.raises(ConfigError, match="recipe.yaml: expected a mapping of recipe fields, got list"):
        load_recipe(path)
    path = write(tmp_path, monkeypatch, "method: [\n")
    with pytest.raises(ConfigError, match="recipe.yaml: not valid YAML"):
        load_recipe(path)
    path = write(tmp_path, monkeypatch, "")
    assert load_recipe(path) == Recipe()


def test_layers_keep_stands_in_for_sparsity():
    r = Recipe.from_dict({"method": "magnitude", "structure": "layers", "layers": {"keep": [4, 0, 2]}}).resolved()
    assert (r.sparsity, r.layers.keep, r.uses_gradients) == (None, [0, 2, 4], False)
    scored = Recipe(method="movement", structure="layers", sparsity=0.5).with_overrides({"layers.select": "score"})
    assert scored.resolved().uses_gradients and scored.needs_training_data


def test_stages_share_seed_dense_and_data_and_resolve_in_turn():
    r = Recipe.from_dict({
        "method": "magnitude", "structure": "layers", "sparsity": 0.5, "seed": 7, "dense": {"steps": 5},
        "then": {"method": "movement", "sparsity": 0.8, "schedule": {"kind": "cubic", "steps": 10}},
    }).resolved()
    first, second = r.stages()
    assert (first.structure, first.then, second.structure, second.method) == ("layers", None, "unstructured", "movement")
    assert second.seed == 7 and second.dense.steps == 5 and second.schedule.warmup_steps == 0
    assert first.needs_training_data is False and r.needs_training_data  # the movement stage trains
    assert "gradual hard movement" in second.regime and first.regime.startswith("one-shot")


def test_bundled_recipes_load_and_resolve():
    files = sorted(bundled_recipes_dir().glob("*.yaml"))
    names = {f.name for f in files}
    assert {"magnitude-oneshot-90.yaml", "obert-80-kd.yaml", "movement-90.yaml", "heads-50.yaml"} <= names
    for f in files:
        r = load_recipe(f).resolved(str(f))
        assert r.method and r.structure and r.sparsity is not None
    obert = load_recipe(bundled_recipes_dir() / "obert-80-kd.yaml").resolved()
    assert (obert.method, obert.sparsity, obert.schedule.kind, obert.distillation.hardness) == ("second-order", 0.8, "cubic", 1.0)
    # each method in its published regime, and the other regimes expressible
    load = lambda name: load_recipe(bundled_recipes_dir() / name).resolved()  # noqa: E731
    hard, soft, oneshot = load("movement-90.yaml"), load("movement-soft-90.yaml"), load("movement-oneshot-90.yaml")
    assert (hard.schedule.kind, hard.movement.variant, soft.movement.variant) == ("cubic", "hard", "soft")
    assert soft.movement.regularization > 0 and soft.movement.threshold is None
    assert (oneshot.schedule.kind, oneshot.finetune.steps) == ("oneshot", 0) and "one-shot" in oneshot.regime
    so = load("obert-oneshot-80.yaml")
    assert (so.method, so.schedule.kind, so.finetune.steps) == ("second-order", "oneshot", 0)
    assert [(s.structure, s.sparsity) for s in load("layers-50-then-obert-80-kd.yaml").stages()] == [
        ("layers", 0.5), ("unstructured", 0.8)]
    assert load("layers-alternate-50-kd.yaml").layers.select == "alternate"


def test_any_yaml_value_is_a_one_line_config_error():
    """Values of every type in every field: either a recipe or one ConfigError line, never another exception."""
    values = [None, True, 3, -1, 2.5, float("nan"), "x", "3e-5", [], [1, "a"], {}, {"a": 1}, {1: 2}]
    fields = ["method", "structure", "sparsity", "scope", "schedule", "movement", "layers", "then", "seed", "bogus"]
    for key in fields:
        for value in values:
            for data in ({key: value}, {"schedule": {"kind": value}}, {"layers": {"keep": value}}, {"then": {key: value}}):
                try:
                    Recipe.from_dict(data, "r.yaml")
                except ConfigError as exc:
                    assert "\n" not in str(exc) and str(exc).startswith("r.yaml: ")


FIXTURES = Path(__file__).parent / "fixtures" / "formats"


def test_a_version_1_recipe_reads_through_its_migration_and_means_the_same():
    old = load_recipe(FIXTURES / "recipe-v1.yaml")
    unversioned = Recipe.from_dict({k: v for k, v in old.model_dump().items()}, "now")
    assert old == unversioned and old.hash() == unversioned.hash()  # the version is not part of the hash
    r = old.resolved()
    assert (r.method, r.structure, r.sparsity, r.schedule.kind, r.schedule.warmup_steps) == ("movement", "unstructured", 0.9, "cubic", 50)
    assert r.movement.variant == "hard"  # version 1's only movement regime is version 2's default
    written = old.to_dict()
    assert written["schema_version"] == 2 and Recipe.from_dict(written, "manifest") == old


@pytest.mark.parametrize("version,expected", [
    (3, "r.yaml: schema_version 3 was written by a newer harness (this one reads 1, 2); upgrade the harness"),
    (0, "r.yaml: schema_version 0 is not a version this harness knows (reads 1, 2)"),
    ("2", "r.yaml: schema_version: expected an integer, got '2'"),
])
def test_a_recipe_version_this_harness_cannot_read_is_one_line(version, expected):
    with pytest.raises(ConfigError) as info:
        Recipe.from_dict({"schema_version": version, "method": "magnitude", "sparsity": 0.5}, "r.yaml")
    assert str(info.value) == expected
