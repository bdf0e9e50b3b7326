"""Pruning recipes: a small YAML format, validated on load, hashed into every variant's manifest.

```yaml
method: second-order          # magnitude | movement | second-order
structure: unstructured       # unstructured | block4 | 2:4 | heads | neurons | channels
sparsity: 0.8                 # fraction of prunable weights (or of units, for heads/neurons/channels); 2:4 is 0.5
scope: global                 # global | per-layer
schedule:
  kind: cubic                 # oneshot | cubic
  steps: 300                  # cubic: n*dt, training steps over which sparsity rises to `sparsity`
  prune_every: 100            # cubic: dt
  initial_sparsity: 0.7       # cubic: s_i, reached at the first pruning step
  warmup_steps: 0             # training steps before the first pruning step (movement gathers scores here)
finetune: {steps: 200, lr: 3.0e-5, batch_size: 16}     # recovery fine-tuning after the last pruning step
distillation: {temperature: 2.0, hardness: 1.0}        # KD from the dense model during all training
second_order: {block_size: 50, num_grads: 1024, damping: 1.0e-7, grad_batch_size: 8,
               recomputations: 1, memory_budget_gb: 4.0}
structured: {grad_batches: 16}                        # gradient batches for taylor / second-order unit scores
dense: {steps: 300, lr: 5.0e-5, batch_size: 32}       # dense task fine-tuning before pruning (with --data)
data: {max_train: null, max_eval: null, seq_len: null}
seed: 0
description: free text
```

Every field is optional except that `method`, `structure` and `sparsity` must be known once command-line
flags are merged in. Unknown keys and bad values raise ConfigError with one line naming the file, the field
path, the value and the valid choices, e.g.
`recipe.yaml: schedule.kind: unknown value 'cubicc'; valid: oneshot, cubic`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import ConfigError
from ..contracts import stable_hash
from . import METHODS, SCHEDULE_KINDS, SCOPES, STRUCTURES, UNIT_STRUCTURES

RECIPE_SCHEMA_VERSION = 1


class _Bad(Exception):
    """A field-level problem; the parser adds the source and the field path."""


# -- value checks (each returns the cleaned value or raises _Bad) --------------------------------------

def _choice(*valid):
    def check(v):
        if v not in valid:
            hint = ""
            if isinstance(v, int) and not isinstance(v, bool) and v >= 60:  # YAML 1.1 base-60: 2:4 -> 124
                hint = f" (YAML reads an unquoted {v // 60}:{v % 60} as the number {v}: quote it)"
            raise _Bad(f"unknown value {v!r}{hint}; valid: {', '.join(valid)}")
        return v
    return check


def _int(minimum=0, optional=False):
    def check(v):
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise _Bad(f"expected an integer >= {minimum}{' or null' if optional else ''}, got {v!r}")
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
            raise _Bad(f"expected a number, got {v!r}")
        v = float(v)
        if v < lo or v > hi or (hi_open and v == hi) or (lo_open and v == lo):
            left, right = ("(" if lo_open else "["), (")" if hi_open else "]")
            raise _Bad(f"expected a number in {left}{lo}, {hi}{right}, got {v!r}")
        return v
    return check


def _text(v):
    if v is not None and not isinstance(v, str):
        raise _Bad(f"expected text, got {v!r}")
    return v


def _f(default, check, help=""):
    return field(default=default, metadata={"check": check, "help": help})


# -- sections -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScheduleSpec:
    kind: str = _f("oneshot", _choice(*SCHEDULE_KINDS))
    steps: int = _f(0, _int(0))
    prune_every: int = _f(1, _int(1))
    initial_sparsity: float = _f(0.0, _float(0.0, 1.0, hi_open=True))
    warmup_steps: int | None = _f(None, _int(0, optional=True))


@dataclass(frozen=True)
class FinetuneSpec:
    steps: int = _f(0, _int(0))
    lr: float = _f(3e-5, _float(0.0, 1.0, lo_open=True))
    batch_size: int = _f(16, _int(1))


@dataclass(frozen=True)
class DistillationSpec:
    temperature: float = _f(2.0, _float(0.0, 1e6, lo_open=True))
    hardness: float = _f(1.0, _float(0.0, 1.0))


@dataclass(frozen=True)
class SecondOrderSpec:
    block_size: int | None = _f(None, _int(1, optional=True))
    num_grads: int = _f(1024, _int(1))
    damping: float = _f(1e-7, _float(0.0, 1e6, lo_open=True))
    grad_batch_size: int = _f(8, _int(1))
    recomputations: int = _f(1, _int(1))
    memory_budget_gb: float = _f(4.0, _float(0.0, 1e6, lo_open=True))


@dataclass(frozen=True)
class StructuredSpec:
    grad_batches: int = _f(16, _int(1))


@dataclass(frozen=True)
class DenseSpec:
    steps: int = _f(300, _int(0))
    lr: float = _f(5e-5, _float(0.0, 1.0, lo_open=True))
    batch_size: int = _f(32, _int(1))


@dataclass(frozen=True)
class DataSpec:
    max_train: int | None = _f(None, _int(1, optional=True))
    max_eval: int | None = _f(None, _int(1, optional=True))
    seq_len: int | None = _f(None, _int(1, optional=True))


_SECTIONS = {
    "schedule": ScheduleSpec, "finetune": FinetuneSpec, "distillation": DistillationSpec,
    "second_order": SecondOrderSpec, "structured": StructuredSpec, "dense": DenseSpec, "data": DataSpec,
}


@dataclass(frozen=True)
class Recipe:
    method: str | None = _f(None, _choice(*METHODS))
    structure: str | None = _f(None, _choice(*STRUCTURES))
    sparsity: float | None = _f(None, _float(0.0, 1.0, hi_open=True, optional=True))
    scope: str = _f("global", _choice(*SCOPES))
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    finetune: FinetuneSpec = field(default_factory=FinetuneSpec)
    distillation: DistillationSpec = field(default_factory=DistillationSpec)
    second_order: SecondOrderSpec = field(default_factory=SecondOrderSpec)
    structured: StructuredSpec = field(default_factory=StructuredSpec)
    dense: DenseSpec = field(default_factory=DenseSpec)
    data: DataSpec = field(default_factory=DataSpec)
    seed: int = _f(0, _int(0))
    description: str | None = _f(None, _text)

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data, source: str = "recipe") -> "Recipe":
        """Validate a plain dict (e.g. parsed YAML); raise ConfigError naming source and field path."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of recipe fields, got {type(data).__name__}")
        return _parse(cls, data, "", source)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

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
        return stable_hash(self.to_dict())

    # -- what the pruner runs -------------------------------------------------------------------------
    def resolved(self, source: str = "recipe") -> "Recipe":
        """Defaults filled in and cross-field rules checked; the recipe the pruner runs and records."""
        def bad(path, message):
            return ConfigError(f"{source}: {path}: {message}")

        if self.method is None:
            raise bad("method", f"required; valid: {', '.join(METHODS)}")
        if self.structure is None:
            raise bad("structure", f"required; valid: {', '.join(STRUCTURES)}")
        sparsity = self.sparsity
        if self.structure == "2:4":
            if sparsity is None:
                sparsity = 0.5
            elif sparsity != 0.5:
                raise bad("sparsity", f"structure 2:4 removes exactly 0.5 of the weights, got {sparsity!r}; valid: 0.5")
        if sparsity is None:
            raise bad("sparsity", "required: a number in [0, 1), e.g. 0.9")
        sched = self.schedule
        if self.structure in UNIT_STRUCTURES and sched.kind != "oneshot":
            raise bad("schedule.kind", f"{sched.kind!r} is not supported with structure {self.structure}; valid: oneshot")
        if sched.kind == "cubic":
            if sched.steps < 1:
                raise bad("schedule.steps", f"a cubic schedule needs steps >= 1, got {sched.steps}")
            if sched.initial_sparsity > sparsity:
                raise bad("schedule.initial_sparsity", f"{sched.initial_sparsity} exceeds the target sparsity {sparsity}")
        warmup = sched.warmup_steps
        if warmup is None:
            # movement scores come from fine-tuning: a one-shot movement prune needs a short fine-tune first
            warmup = 32 if self.method == "movement" and sched.kind == "oneshot" and self.structure not in UNIT_STRUCTURES else 0
        so = self.second_order
        block_size = so.block_size
        group = 4 if self.structure == "block4" else 1
        if block_size is None:
            block_size = 32 if group == 4 else 50
        if self.method == "second-order" and block_size % group:
            raise bad("second_order.block_size", f"{block_size} is not a multiple of the block4 group size 4")
        return dataclasses.replace(
            self,
            sparsity=sparsity,
            schedule=dataclasses.replace(sched, warmup_steps=warmup),
            second_order=dataclasses.replace(so, block_size=block_size),
        )

    @property
    def needs_training_data(self) -> bool:
        """Whether this recipe needs task data (gradients or training), not only evaluation inputs."""
        r = self
        return (
            r.method in ("movement", "second-order")
            or r.schedule.kind == "cubic"
            or (r.schedule.warmup_steps or 0) > 0
            or r.finetune.steps > 0
        )


def _parse(cls, data: dict, prefix: str, source: str):
    valid = [f.name for f in fields(cls)]
    values = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in valid:
            raise ConfigError(f"{source}: {path}: unknown field; valid: {', '.join(valid)}")
        if key in _SECTIONS and cls is Recipe:
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {path}: expected a mapping, got {value!r}")
            values[key] = _parse(_SECTIONS[key], value, f"{path}.", source)
            continue
        check = next(f for f in fields(cls) if f.name == key).metadata["check"]
        try:
            values[key] = check(value)
        except _Bad as exc:
            raise ConfigError(f"{source}: {path}: {exc}") from None
    return cls(**values)


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe YAML file."""
    from ..yamlio import read_yaml

    return Recipe.from_dict(read_yaml(path, "recipe"), str(path))


def bundled_recipes_dir() -> Path:
    """The repository's ready recipes (recipes/ next to the package)."""
    return Path(__file__).resolve().parents[2] / "recipes"
