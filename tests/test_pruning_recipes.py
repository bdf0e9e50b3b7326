"""Recipes: validation names the file, the field path, the value and the valid choices, in one line."""

from pathlib import Path

import pytest

from harness.errors import ConfigError
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
    ("methd: magnitude\n", "recipe.yaml: methd: unknown field; valid: method, structure, sparsity, scope, schedule, "
                           "finetune, distillation, second_order, structured, dense, data, seed, description"),
    ("finetune: {stepz: 3}\n", "recipe.yaml: finetune.stepz: unknown field; valid: steps, lr, batch_size"),
    ("method: magnitud\n", "recipe.yaml: method: unknown value 'magnitud'; valid: magnitude, movement, second-order"),
    ("structure: 4:8x\n", "recipe.yaml: structure: unknown value '4:8x'; valid: unstructured, block4, 2:4, heads, neurons, channels"),
    ("structure: 2:4\n", "recipe.yaml: structure: unknown value 124 (YAML reads an unquoted 2:4 as the number 124: quote it); "
                          "valid: unstructured, block4, 2:4, heads, neurons, channels"),
    ("sparsity: 1.5\n", "recipe.yaml: sparsity: expected a number in [0.0, 1.0), got 1.5"),
    ("sparsity: lots\n", "recipe.yaml: sparsity: expected a number, got 'lots'"),
    ("finetune: {steps: -1}\n", "recipe.yaml: finetune.steps: expected an integer >= 0, got -1"),
    ("second_order: {num_grads: 2.5}\n", "recipe.yaml: second_order.num_grads: expected an integer >= 1, got 2.5"),
    ("second_order: {damping: 0}\n", "recipe.yaml: second_order.damping: expected a number in (0.0, 1000000.0], got 0.0"),
    ("scope: local\n", "recipe.yaml: scope: unknown value 'local'; valid: global, per-layer"),
    ("schedule: cubic\n", "recipe.yaml: schedule: expected a mapping, got 'cubic'"),
    ("seed: true\n", "recipe.yaml: seed: expected an integer >= 0, got True"),
])
def test_field_errors(tmp_path, monkeypatch, text, expected):
    path = write(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    assert str(info.value) == expected


@pytest.mark.parametrize("text,fragment", [
    ("structure: unstructured\nsparsity: 0.5\n", "recipe.yaml: method: required; valid: magnitude, movement, second-order"),
    ("method: magnitude\nsparsity: 0.5\n", "recipe.yaml: structure: required"),
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
])
def test_cross_field_errors(tmp_path, monkeypatch, text, fragment):
    assert error(tmp_path, monkeypatch, text).startswith(fragment)


def test_defaults_resolve():
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


def test_bundled_recipes_load_and_resolve():
    files = sorted(bundled_recipes_dir().glob("*.yaml"))
    names = {f.name for f in files}
    assert {"magnitude-oneshot-90.yaml", "obert-80-kd.yaml", "movement-90.yaml", "heads-50.yaml"} <= names
    for f in files:
        r = load_recipe(f).resolved(str(f))
        assert r.method and r.structure and r.sparsity is not None
    obert = load_recipe(bundled_recipes_dir() / "obert-80-kd.yaml").resolved()
    assert (obert.method, obert.sparsity, obert.schedule.kind, obert.distillation.hardness) == ("second-order", 0.8, "cubic", 1.0)
