"""What `harness compress` is asked to do (CompressPlan) and everything refused before any work: one line each.

The workflow itself is harness.workflows.compress; compress.json is written by harness.workflows.compress_report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.registry import USER_BACKENDS, backend_class
from harness.contracts import Settings, TaskSpec
from harness.foundation.errors import ConfigError, choices_error
from harness.tasks.eval_data import eval_examples

DEFAULT_TARGETS = (0.7, 0.6, 0.5, 0.4, 0.3)  # kept fraction of the dense model's head and FFN FLOPs
SCREEN_MARGIN_POINTS = 2.0  # held-back drop beyond budget + this: the target is not measured, no harsher one made
MIN_INT8_BUDGET_POINTS = 0.25
# measurement: long enough for a p90 with its interval and a stable p50, short enough for many candidates
COMPRESS_SETTINGS = Settings(warmup_iters=5, warmup_s=0.5, min_iters=30, min_duration_s=3.0, max_duration_s=10.0,
                             percentile_target="p90", timeout_s=600.0)
SETUP_ESTIMATE_S = 30.0  # loading, data, the first export (refusing a budget that cannot hold one candidate)
CANDIDATE_OVERHEAD_S = 12.0  # export, worker start, load, parity (before any cache exists)
EVAL_MS_PER_EXAMPLE = 4.0


@dataclass(frozen=True)
class CompressPlan:
    checkpoint: str
    data_dir: str
    task: str = "sst2"
    backends: tuple[str, ...] = ("openvino", "onnxruntime")
    max_quality_drop: float = 1.0  # accuracy points below the same engine's dense fp32 model
    budget_minutes: float = 15.0
    targets: tuple[float, ...] = DEFAULT_TARGETS
    precisions: tuple[str, ...] = ("fp32", "int8")
    threads: int = 2
    seq_len: int = 64
    calibration_examples: int = 512
    heldout_examples: int = 512
    eval_limit: int | None = None
    settings: Settings = field(default_factory=lambda: COMPRESS_SETTINGS)
    confirm: bool = True  # the confirming round of timings

    @property
    def budget_s(self) -> float:
        return 60.0 * self.budget_minutes


def minimum_budget_s(plan: CompressPlan, dev_examples: int) -> float:
    """What the set-up, the dense baseline and one candidate take at the least (a budget below cannot measure one)."""
    s = plan.settings
    one = CANDIDATE_OVERHEAD_S + s.warmup_s + s.min_duration_s + dev_examples * EVAL_MS_PER_EXAMPLE / 1000.0
    return SETUP_ESTIMATE_S + 2 * one


def check_plan(plan: CompressPlan) -> None:
    """Everything that can be refused before any work: one line each (harness.cli turns it into exit 2)."""
    from harness.models.checkpoint import checkpoint_family

    if plan.task != "sst2":
        raise ConfigError(f"--task {plan.task}: compress needs a task with a training split (calibration and "
                          "held-back examples) apart from the evaluation split; valid: sst2")
    for b in plan.backends:
        if b not in USER_BACKENDS or b in ("torch-cuda", "sklearn"):
            raise choices_error("backend", b, [x for x in USER_BACKENDS if x not in ("torch-cuda", "sklearn")])
        if backend_class(b).interpreter is None and backend_class(b).available() is None:
            raise ConfigError(f"--backend {b}: the engine is not installed here")
    for p in plan.precisions:
        if p not in ("fp32", "int8"):
            raise choices_error("precision", p, ("fp32", "int8"))
    if "fp32" not in plan.precisions:
        raise ConfigError("--precision: fp32 is needed (the dense fp32 model is the baseline)")
    if not plan.max_quality_drop >= 0 or not math.isfinite(plan.max_quality_drop):
        raise ConfigError(f"--max-quality-drop: expected points >= 0, got {plan.max_quality_drop!r}")
    for t in plan.targets:
        if not 0.0 < t < 1.0:
            raise ConfigError(f"--targets: {t!r} is a kept fraction of the dense FLOPs; 1 removes nothing and 0 "
                              "everything: give values in (0, 1), e.g. 0.7,0.5,0.4")
    family = checkpoint_family(plan.checkpoint)
    if family.kind != "text":
        raise ConfigError(f"--checkpoint {plan.checkpoint}: model_type {family.model_type!r} has no attention heads "
                          "and FFN neurons to prune; compress takes BERT, DistilBERT, RoBERTa or MiniLM checkpoints")
    from harness.pruning.post_training import flops_floor

    floor = flops_floor(family.make_config(), plan.seq_len)
    for t in plan.targets:
        if t < floor:
            raise ConfigError(f"--targets: {t:g} removes everything (one head and one neuron per layer keep {floor:.3f} "
                              f"of the FLOPs of {family.name}); give targets in [{floor:.3f}, 1)")
    task = TaskSpec(name=plan.task, data=plan.data_dir, eval_limit=plan.eval_limit)
    if not (Path(plan.data_dir) / "train.tsv").is_file():
        raise ConfigError(f"--data {plan.data_dir}: no train.tsv (SST-2 layout: train.tsv, dev.tsv)")
    dev = len(eval_examples(task, int(family.num_labels)).texts)
    need = minimum_budget_s(plan, dev)
    if plan.budget_s < need:
        raise ConfigError(f"--budget-minutes {plan.budget_minutes:g}: too short to measure one candidate (the set-up, "
                          f"the dense baseline and one candidate take about {need:.0f} s); give at least "
                          f"{math.ceil(need / 6) / 10:g}")


def check_out(plan: CompressPlan, out) -> None:
    """OUT is new, empty, or an earlier compress run of the same checkpoint and data (which this run resumes)."""
    path = Path(out)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return
    previous = path / "compress.json"
    if not previous.is_file():
        raise ConfigError(f"--out {out}: exists and holds no compress.json; give a new or empty directory, or an earlier "
                          "compress output to resume")
    try:
        old = json.loads(previous.read_text()).get("plan", {})
    except (OSError, ValueError, AttributeError):
        raise ConfigError(f"--out {out}: its compress.json is not readable; give a new directory") from None
    for key in ("checkpoint", "data_dir", "task"):
        if old.get(key) != getattr(plan, key):
            raise ConfigError(f"--out {out}: holds a compress run of {key} {old.get(key)!r}, not {getattr(plan, key)!r}; "
                              "give a new directory")
