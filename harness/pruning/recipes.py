"""Pruning recipes: a small YAML format, validated on load (pydantic models through harness.foundation.validation),
hashed into every variant's manifest.

```yaml
schema_version: 2             # optional; a recipe without one is read as version 2 (see below)
method: second-order          # magnitude | movement | second-order
structure: unstructured       # unstructured | block4 | 2:4 | heads | neurons | channels | layers (default unstructured)
sparsity: 0.8                 # fraction of prunable weights (of units for heads/neurons/channels/layers); 2:4 is 0.5
scope: global                 # global | per-layer
schedule:
  kind: cubic                 # oneshot | cubic
  steps: 300                  # cubic: n*dt, training steps over which sparsity rises to `sparsity`
  prune_every: 100            # cubic: dt (movement: how often the masks are recomputed from the scores)
  initial_sparsity: 0.7       # cubic: s_i, reached at the first pruning step
  warmup_steps: 0             # training steps before the first pruning step (movement gathers scores here)
finetune: {steps: 200, lr: 3.0e-5, batch_size: 16}     # recovery fine-tuning after the last pruning step
distillation: {temperature: 2.0, hardness: 1.0}        # KD from the dense model during all training
second_order: {block_size: 50, num_grads: 1024, damping: 1.0e-7, grad_batch_size: 8,
               recomputations: 1, memory_budget_gb: 4.0}
structured: {grad_batches: 16}                        # gradient batches for taylor / second-order unit scores
movement: {variant: hard, scores_lr: 0.01, regularization: 0.0, threshold: null}   # the gradual regime (movement.py)
layers: {keep: null, select: alternate}               # structure layers: which encoder layers stay (depth.py)
then: {method: magnitude, structure: unstructured, sparsity: 0.8}   # a further prune of the result (a chain)
dense: {steps: 300, lr: 5.0e-5, batch_size: 32}       # dense task fine-tuning before pruning (with --data)
data: {max_train: null, max_eval: null, seq_len: null}
seed: 0
description: free text
```

Every field is optional except that `method` and `sparsity` must be known once command-line flags are
merged in (`sparsity` may be left out for `structure: layers` with `layers.keep`). `then` takes the fields
above except dense, data and seed (the first stage's apply), and may hold its own `then`. Unknown keys
and bad values raise ConfigError with one line naming the file, the field path, the value and the valid
choices, e.g. `recipe.yaml: schedule.kind: unknown value 'cubicc'; valid: oneshot, cubic`.

RECIPE_SCHEMA_VERSION history (recipe files and the `recipe` of a variant's manifest; a recipe without
schema_version is version 2; the version is migrated before validation, harness.contracts.codec.upgrade):
  1 - structure required; no movement, layers or then sections.
  2 - adds movement, layers and then; structure defaults to unstructured. A version-1 recipe means the same.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict

from harness.contracts import RecordError, stable_hash
from harness.contracts.codec import document_version, upgrade
from harness.foundation.errors import ConfigError
from harness.foundation.paths import REPO_ROOT
from harness.foundation.validation import short, validate
from harness.foundation.yamlio import read_yaml

from . import LAYER_SELECTS, METHODS, MOVEMENT_VARIANTS, SCHEDULE_KINDS, SCOPES, STRUCTURES, UNIT_STRUCTURES

RECIPE_SCHEMA_VERSION = 2  # the history is in the module docstring
UNVERSIONED_RECIPE = 2  # the version of a recipe without schema_version


def _update_to_2(data: dict) -> dict:
    return dict(data)  # version 2 only added sections and a default: a version-1 recipe reads unchanged


RECIPE_MIGRATIONS = {1: _update_to_2}


# -- value checks: each returns the cleaned value or raises ValueError with the message users see ------
def _choice(*valid, optional=False):
    def check(v):
        if (isinstance(v, str) and v in valid) or (v is None and optional):
            return v
        hint = ""
        if isinstance(v, int) and not isinstance(v, bool) and v >= 60:  # YAML 1.1 base-60: 2:4 -> 124
            hint = f" (YAML reads an unquoted {v // 60}:{v % 60} as the number {v}: quote it)"
        raise ValueError(f"unknown value {short(v)}{hint}; valid: {', '.join(valid)}")
    return check


def _int(minimum=0, optional=False):
    def check(v):
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ValueError(f"expected an integer >= {minimum}{' or null' if optional else ''}, got {short(v)}")
        return v
    return check


def _float(lo, hi, *, hi_open=False, lo_open=False, optional=False):
    def check(v):
        if v is None and optional:
            return None
        if isinstance(v, str):  # YAML 1.1 reads 3e-5 (no dot) as a string
            try:
                v = float(v)
            except ValueError:
                pass
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"expected a number, got {short(v)}")
        v = float(v)
        if v < lo or v > hi or (hi_open and v == hi) or (lo_open and v == lo):
            left, right = ("(" if lo_open else "["), (")" if hi_open else "]")
            raise ValueError(f"expected a number in {left}{lo}, {hi}{right}, got {v!r}")
        return v
    return check


def _text(v):
    if v is not None and not isinstance(v, str):
        raise ValueError(f"expected text, got {short(v)}")
    return v


def _indices(v):
    """A non-empty list of distinct layer indices (>= 0), returned sorted; None stays None."""
    if v is None:
        return None
    if not isinstance(v, list) or not v or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v):
        raise ValueError(f"expected a non-empty list of layer indices >= 0 such as [0, 2, 4], got {short(v)}")
    if len(set(v)) != len(v):
        raise ValueError(f"expected distinct layer indices, got {short(v)}")
    return sorted(v)


def _section(v):
    return {} if v is None else v  # `finetune:` with nothing under it means the defaults


def _v(check):
    """A field whose value passes `check` (which also words the error) before pydantic's strict type check."""
    return BeforeValidator(check)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# -- sections -----------------------------------------------------------------------------------------
class ScheduleSpec(_Model):
    kind: Annotated[str, _v(_choice(*SCHEDULE_KINDS))] = "oneshot"
    steps: Annotated[int, _v(_int(0))] = 0
    prune_every: Annotated[int, _v(_int(1))] = 1
    initial_sparsity: Annotated[float, _v(_float(0.0, 1.0, hi_open=True))] = 0.0
    warmup_steps: Annotated[Optional[int], _v(_int(0, optional=True))] = None


class FinetuneSpec(_Model):
    steps: Annotated[int, _v(_int(0))] = 0
    lr: Annotated[float, _v(_float(0.0, 1.0, lo_open=True))] = 3e-5
    batch_size: Annotated[int, _v(_int(1))] = 16


class DistillationSpec(_Model):
    temperature: Annotated[float, _v(_float(0.0, 1e6, lo_open=True))] = 2.0
    hardness: Annotated[float, _v(_float(0.0, 1.0))] = 1.0


class SecondOrderSpec(_Model):
    block_size: Annotated[Optional[int], _v(_int(1, optional=True))] = None
    num_grads: Annotated[int, _v(_int(1))] = 1024
    damping: Annotated[float, _v(_float(0.0, 1e6, lo_open=True))] = 1e-7
    grad_batch_size: Annotated[int, _v(_int(1))] = 8
    recomputations: Annotated[int, _v(_int(1))] = 1
    memory_budget_gb: Annotated[float, _v(_float(0.0, 1e6, lo_open=True))] = 4.0


class StructuredSpec(_Model):
    grad_batches: Annotated[int, _v(_int(1))] = 16


class MovementSpec(_Model):
    """The gradual regime of Sanh et al. (2020); see harness.pruning.movement."""

    variant: Annotated[str, _v(_choice(*MOVEMENT_VARIANTS))] = "hard"
    scores_lr: Annotated[float, _v(_float(0.0, 1e3, lo_open=True))] = 1e-2  # soft: Adam on the scores
    regularization: Annotated[float, _v(_float(0.0, 1e9))] = 0.0  # soft: lambda of lambda * mean(sigmoid(S))
    threshold: Annotated[Optional[float], _v(_float(0.0, 1.0, lo_open=True, hi_open=True, optional=True))] = None


class LayersSpec(_Model):
    """structure layers: `keep` names the encoder layers that stay; otherwise `select` picks
    round((1 - sparsity) x layers) of them (see harness.pruning.depth)."""

    keep: Annotated[Optional[list[int]], _v(_indices)] = None
    select: Annotated[str, _v(_choice(*LAYER_SELECTS))] = "alternate"


class DenseSpec(_Model):
    steps: Annotated[int, _v(_int(0))] = 300
    lr: Annotated[float, _v(_float(0.0, 1.0, lo_open=True))] = 5e-5
    batch_size: Annotated[int, _v(_int(1))] = 32


class DataSpec(_Model):
    max_train: Annotated[Optional[int], _v(_int(1, optional=True))] = None
    max_eval: Annotated[Optional[int], _v(_int(1, optional=True))] = None
    seq_len: Annotated[Optional[int], _v(_int(1, optional=True))] = None


def _sec(cls):
    return Annotated[cls, BeforeValidator(_section)]


# -- a pruning stage and the recipe -------------------------------------------------------------------
class Stage(_Model):
    """One prune: criterion x structure x schedule, with its recovery training."""

    method: Annotated[Optional[str], _v(_choice(*METHODS, optional=True))] = None
    structure: Annotated[str, _v(_choice(*STRUCTURES))] = "unstructured"
    sparsity: Annotated[Optional[float], _v(_float(0.0, 1.0, hi_open=True, optional=True))] = None
    scope: Annotated[str, _v(_choice(*SCOPES))] = "global"
    schedule: _sec(ScheduleSpec) = ScheduleSpec()
    finetune: _sec(FinetuneSpec) = FinetuneSpec()
    distillation: _sec(DistillationSpec) = DistillationSpec()
    second_order: _sec(SecondOrderSpec) = SecondOrderSpec()
    structured: _sec(StructuredSpec) = StructuredSpec()
    movement: _sec(MovementSpec) = MovementSpec()
    layers: _sec(LayersSpec) = LayersSpec()
    then: Optional["Stage"] = None
    description: Annotated[Optional[str], _v(_text)] = None

    # -- what the pruner runs -------------------------------------------------------------------------
    def resolved(self, source: str = "recipe", prefix: str = ""):
        """Defaults filled in and cross-field rules checked (for this stage and every `then`)."""
        updates = _resolve(self, lambda path, msg: ConfigError(f"{source}: {prefix}{path}: {msg}"))
        if self.then is not None:
            updates["then"] = self.then.resolved(source, f"{prefix}then.")
        return self.model_copy(update=updates)

    @property
    def uses_gradients(self) -> bool:
        """Whether this stage's scores need gradients of the task loss."""
        if self.structure == "layers":
            return self.layers.keep is None and self.layers.select == "score" and self.method != "magnitude"
        return self.method in ("movement", "second-order")

    @property
    def regime(self) -> str:
        """In words: which regime this stage runs (recorded in the manifest)."""
        s, d = self.schedule, self.distillation
        trains = s.kind == "cubic" or bool(s.warmup_steps) or self.finetune.steps > 0
        kd = ""
        if trains and d.hardness > 0:
            kd = f"; training distils from the dense model (T={d.temperature:g}, hardness {d.hardness:g})"
        recovery = f", then {self.finetune.steps} recovery steps" if self.finetune.steps else ", no recovery training"
        if s.kind == "cubic" and self.method == "movement":
            m = self.movement
            if m.variant == "hard":
                how = "top-k of accumulated scores S = -sum(dL/dW' * W)"
            else:
                tau = "calibrated to the schedule" if m.threshold is None else f"fixed {m.threshold:g}"
                how = f"learned scores, sigmoid(S) > threshold ({tau}), L1 lambda {m.regularization:g}"
            cool = f", then {self.finetune.steps} cool-down steps" if self.finetune.steps else ""
            return (f"gradual {m.variant} movement during fine-tuning (Sanh et al. 2020): {s.warmup_steps or 0} warm-up "
                    f"steps, cubic over {s.steps} steps with masks recomputed every {s.prune_every}, {how}{cool}{kd}")
        if s.kind == "cubic":
            return f"gradual: cubic over {s.steps} steps, pruning every {s.prune_every}, trained in between{recovery}{kd}"
        warm = f"{s.warmup_steps} fine-tuning steps gathering scores, then " if s.warmup_steps else ""
        return f"one-shot: {warm}one pruning step{recovery}{kd}"


class Recipe(Stage):
    """A stage plus what applies to the whole run: dense fine-tuning, data, seed."""

    dense: _sec(DenseSpec) = DenseSpec()
    data: _sec(DataSpec) = DataSpec()
    seed: Annotated[int, _v(_int(0))] = 0

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data, source: str = "recipe") -> "Recipe":
        """Validate a plain dict (e.g. parsed YAML); raise ConfigError naming source and field path."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of recipe fields, got {type(data).__name__}")
        try:
            data = upgrade(data, document_version(data, UNVERSIONED_RECIPE), RECIPE_SCHEMA_VERSION, RECIPE_MIGRATIONS)
        except RecordError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        return validate(cls, {k: v for k, v in data.items() if k != "schema_version"}, source)

    def to_dict(self) -> dict:
        """The recipe as a file would hold it, with its schema_version (what a variant's manifest records)."""
        return {"schema_version": RECIPE_SCHEMA_VERSION, **self.model_dump()}

    def with_overrides(self, overrides: dict, source: str = "command line") -> "Recipe":
        """A copy with dotted-path fields replaced (None values are ignored), validated again."""
        data = self.to_dict()
        for path, value in overrides.items():
            if value is None:
                continue
            *parents, leaf = path.split(".")
            node = data
            for p in parents:
                node = node[p]
            node[leaf] = value
        return Recipe.from_dict(data, source)

    def hash(self) -> str:
        """Of the fields alone: a recipe hashes the same whichever version it was read from."""
        return stable_hash(self.model_dump())

    def stages(self) -> list["Recipe"]:
        """This recipe and each `then`, as recipes of one stage each (sharing seed, dense and data)."""
        out, stage = [], self
        while stage is not None:
            fields = {k: getattr(stage, k) for k in Stage.model_fields if k != "then"}
            out.append(Recipe(**fields, dense=self.dense, data=self.data, seed=self.seed))
            stage = stage.then
        return out

    @property
    def needs_training_data(self) -> bool:
        """Whether this recipe needs task data (gradients or training), not only evaluation inputs."""
        return any(
            s.uses_gradients or s.schedule.kind == "cubic" or (s.schedule.warmup_steps or 0) > 0 or s.finetune.steps > 0
            for s in self.stages()
        )


Stage.model_rebuild()


def _resolve(r: Stage, bad) -> dict:
    """The resolved values of one stage's own fields; `bad(path, message)` makes the error to raise."""
    if r.method is None:
        raise bad("method", f"required; valid: {', '.join(METHODS)}")
    sparsity = r.sparsity
    if r.structure == "2:4":
        if sparsity is None:
            sparsity = 0.5
        elif sparsity != 0.5:
            raise bad("sparsity", f"structure 2:4 removes exactly 0.5 of the weights, got {sparsity!r}; valid: 0.5")
    if r.structure == "layers" and r.layers.keep is not None:
        if sparsity is not None:
            raise bad("sparsity", f"layers.keep {r.layers.keep} decides which layers stay; leave sparsity out, got {sparsity!r}")
    elif r.layers.keep is not None:
        raise bad("layers.keep", f"applies to structure layers only, not {r.structure}")
    elif sparsity is None:
        raise bad("sparsity", "required: a number in [0, 1), e.g. 0.9")
    sched = r.schedule
    if r.structure in UNIT_STRUCTURES and sched.kind != "oneshot":
        raise bad("schedule.kind", f"{sched.kind!r} is not supported with structure {r.structure}; valid: oneshot")
    if sched.kind == "cubic":
        if sched.steps < 1:
            raise bad("schedule.steps", f"a cubic schedule needs steps >= 1, got {sched.steps}")
        if sched.initial_sparsity > sparsity:
            raise bad("schedule.initial_sparsity", f"{sched.initial_sparsity} exceeds the target sparsity {sparsity}")
    gradual_movement = r.method == "movement" and sched.kind == "cubic"
    if r.movement.variant == "soft" and r.method == "movement":
        if not gradual_movement:
            raise bad("movement.variant", "'soft' learns its scores during a gradual schedule; valid with schedule.kind: cubic")
        if r.structure != "unstructured":
            raise bad("movement.variant",
                      f"'soft' thresholds single weights, not structure {r.structure}; valid structure: unstructured")
    warmup = sched.warmup_steps
    if warmup is None:
        # movement scores come from fine-tuning: a one-shot movement prune needs a short fine-tune first
        warmup = 32 if r.method == "movement" and sched.kind == "oneshot" and r.structure not in UNIT_STRUCTURES else 0
    if gradual_movement and warmup == 0 and sched.initial_sparsity > 0:
        raise bad("schedule.warmup_steps", "movement has no scores before its first step: give warm-up steps >= 1 "
                                           f"or initial_sparsity 0, got initial_sparsity {sched.initial_sparsity}")
    so = r.second_order
    block_size = so.block_size
    group = 4 if r.structure == "block4" else 1
    if block_size is None:
        block_size = 32 if group == 4 else 50
    if r.method == "second-order" and block_size % group:
        raise bad("second_order.block_size", f"{block_size} is not a multiple of the block4 group size 4")
    return {
        "sparsity": sparsity,
        "schedule": sched.model_copy(update={"warmup_steps": warmup}),
        "second_order": so.model_copy(update={"block_size": block_size}),
    }


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe YAML file."""
    return Recipe.from_dict(read_yaml(path, "recipe"), str(path))


def bundled_recipes_dir() -> Path:
    """The repository's ready recipes (recipes/ next to the package)."""
    return REPO_ROOT / "recipes"
