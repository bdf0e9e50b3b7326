"""The default job: the real question on a real model, and the zoo's latency beside it.

Steps:
  1. all-MiniLM-L6-v2 fine-tuned on SST-2 (`harness finetune`, 160 steps of 16, cached) and what `harness compress`
     chooses for it within the demo's time budget (post-training pruning, int8 with the sensitivity pass, on ONNX
     Runtime and OpenVINO, within 1 accuracy point; cached in <cache>/demo/compress); the checkpoint in fp32 on
     every engine and in int8 on ONNX Runtime, OpenVINO and DeepSparse, the chosen variant in fp32 on the engines
     compress tried and in its chosen precision on its engine; accuracy on SST-2 dev measured on the engine timed;
  2. the zoo's dense BERT-base, DistilBERT and ResNet50 on ONNX Runtime and OpenVINO (matrices/demo.yaml) and
     a one-shot 90%-magnitude BERT-base on the kernels that skip zeros (torch CSR, DeepSparse): seeded random
     weights, so their rows are latency-only (quality unknown) in the report;
  3. a summary table, the quality-gated cost report and the seed's CPU-vs-GPU comparison under
     results/reports/.
Without SST-2 data (--data or $HARNESS_DATA_DIR) step 1 is skipped and the report says so.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from harness.contracts import TaskSpec
from harness.foundation.machine import cache_dir
from harness.foundation.paths import REPO_ROOT
from harness.pricing.catalog import all_instances, get, isa_classes, isa_mismatch, matching_instance
from harness.pruning.recipes import Recipe, load_recipe
from harness.results.cost.query import CostQuery
from harness.results.report.cost_report import write_cost_report, write_seed_example
from harness.results.report.seed import SEED
from harness.results.report.summary import print_summary
from harness.results.store import iter_records

from .compress import CompressPlan, run_compress

ZOO_PRUNED_RECIPE = REPO_ROOT / "recipes" / "magnitude-oneshot-90.yaml"
ZOO_AGREEMENT_EXAMPLES = 64
QUALITY_MAX_DURATION_S = 60.0  # the quality rows run until p99 is supported (368 samples), up to this
DEMO_SLA_MS = 100.0
DEMO_QPS = 50.0
DEMO_REGION = "us-east-2"


@dataclasses.dataclass(frozen=True)
class QualityPart:
    """The model measured for quality: which family, how it is fine-tuned and measured."""

    model: str = "minilm"
    finetune_steps: int = 160
    batch_size: int = 16
    max_train: int | None = 8192
    seq_len: int = 64
    engines: tuple[str, ...] = ("torch", "onnxruntime", "openvino", "deepsparse")
    int8_engines: tuple[str, ...] = ("onnxruntime", "openvino", "deepsparse")
    eval_limit: int | None = None
    # `harness compress` on the fine-tuned checkpoint (the step the second-order 80% + distillation used to take)
    compress_engines: tuple[str, ...] = ("onnxruntime", "openvino")
    compress_targets: tuple[float, ...] = (0.5, 0.4)
    compress_budget_minutes: float = 8.0  # the dense candidates, one pruning and its candidates (demo: 25 min in all)
    max_quality_drop: float = 1.0
    calibration_examples: int = 512  # training examples of the Fisher pass and reconstruction
    heldout_examples: int = 512  # held-back training examples that judge pruning and int8
    compress_settings: object = None  # measurement Settings of the compress run (None: its own defaults)


def _say(message: str) -> None:
    print(f"harness demo: {message}", file=sys.stderr)


def ensure_demo_variant(model: str = "bert-base", *, progress: bool = True) -> Path:
    """The zoo's pruned variant (one-shot 90% magnitude, no data), made once and cached."""
    from harness.pruning.pruner import make_variant

    out = cache_dir() / "variants" / f"{model}-magnitude-90"
    if not (out / "manifest.json").is_file():
        _say(f"pruning {model} to 90% (one-shot magnitude, no data) into {out}")
        # its rows are latency-only: 64 generated inputs for the manifest's agreement figure are enough
        recipe = load_recipe(ZOO_PRUNED_RECIPE).to_dict()
        recipe = Recipe.from_dict({**recipe, "data": {**recipe.get("data", {}), "max_eval": ZOO_AGREEMENT_EXAMPLES}},
                                  str(ZOO_PRUNED_RECIPE))
        make_variant(model, recipe, out_dir=out, data_dir=None, progress=progress)
    return out


def ensure_quality_models(part: QualityPart, data_dir: str, *, progress: bool = True) -> tuple[Path, dict | None]:
    """(the fine-tuned checkpoint, what `harness compress` chose for it: compress.json's `chosen`), made once and
    cached; the compress run resumes where an interrupted one stopped."""
    from .finetune import finetune

    root = cache_dir() / "demo"
    checkpoint = root / f"{part.model}-sst2"
    if not (checkpoint / "config.json").is_file():
        _say(f"fine-tuning {part.model} on SST-2 ({part.finetune_steps} steps) into {checkpoint}")
        finetune(part.model, data_dir, checkpoint, steps=part.finetune_steps, batch_size=part.batch_size,
                 max_train=part.max_train, seq_len=part.seq_len, progress=progress)
    out = root / "compress"
    done = out / "compress.json"
    previous = json.loads(done.read_text()) if done.is_file() else None
    if previous is None or previous.get("status") == "running":
        _say(f"compressing the checkpoint (`harness compress`, {part.compress_budget_minutes:g} minutes) into {out}")
        extra = {"settings": part.compress_settings} if part.compress_settings is not None else {}
        plan = CompressPlan(checkpoint=str(checkpoint), data_dir=str(data_dir), backends=part.compress_engines,
                            max_quality_drop=part.max_quality_drop, budget_minutes=part.compress_budget_minutes,
                            targets=part.compress_targets, seq_len=part.seq_len, eval_limit=part.eval_limit,
                            calibration_examples=part.calibration_examples, heldout_examples=part.heldout_examples,
                            **extra)
        previous = run_compress(plan, out, progress=progress, echo=lambda m: _say(f"compress: {m}"))
    return checkpoint, previous.get("chosen")


def quality_configs(template, part: QualityPart, checkpoint: Path, chosen: dict | None, data_dir: str) -> list:
    """The checkpoint on every engine in fp32 and in int8 where the engine has it, and the variant `harness compress`
    chose on every engine in fp32 and in its chosen precision on its engine, SST-2 accuracy measured on each."""
    task = TaskSpec(name="sst2", data=str(data_dir), eval_limit=part.eval_limit)
    # the zoo's short cap would stop the slower engines before p99 has its 368 samples: these rows are the answer
    settings = dataclasses.replace(template.settings, max_duration_s=max(template.settings.max_duration_s,
                                                                         QUALITY_MAX_DURATION_S))
    base = dataclasses.replace(template, model=checkpoint.name, checkpoint=str(checkpoint), seq_len=part.seq_len,
                               task=task, backend_settings={}, settings=settings)
    out = []
    for engine in part.engines:
        out.append(dataclasses.replace(base, backend=engine, precision="fp32"))
        if engine in part.int8_engines:
            out.append(dataclasses.replace(base, backend=engine, precision="int8"))
    variant = chosen.get("variant_dir") if chosen else None
    if variant:
        out += [dataclasses.replace(base, backend=engine, precision="fp32", variant=variant)
                for engine in part.compress_engines]
    if chosen and chosen.get("precision") == "int8":  # the chosen int8 model: the same sensitivity budget
        int8 = dataclasses.replace(settings, int8_max_drop=chosen.get("int8_max_drop"),
                                   heldout_examples=part.heldout_examples)
        out.append(dataclasses.replace(base, backend=chosen["backend"], precision="int8", variant=variant, settings=int8))
    return out


def zoo_pruned_configs(base, variant: Path, model: str = "bert-base") -> list:
    """The zoo's pruned model where a kernel can skip its zeros (torch CSR, DeepSparse), with the dense model on
    DeepSparse beside it."""
    template = next(c for c in base if c.model == model)
    return [dataclasses.replace(template, backend="torch", variant=str(variant), kernel="sparse"),
            dataclasses.replace(template, backend="deepsparse"),
            dataclasses.replace(template, backend="deepsparse", variant=str(variant))]


def demo_configs(matrix_path, *, data_dir: str | None, prune: bool, pruned_model: str, part: QualityPart,
                 progress: bool) -> list:
    from harness.measure.matrix import expand, load_matrix

    configs = expand(load_matrix(matrix_path))
    if prune and any(c.model == pruned_model for c in configs):
        configs += zoo_pruned_configs(configs, ensure_demo_variant(pruned_model, progress=progress), pruned_model)
    if data_dir:
        checkpoint, chosen = ensure_quality_models(part, data_dir, progress=progress)
        configs = quality_configs(configs[0], part, checkpoint, chosen, data_dir) + configs
    else:
        _say("no SST-2 data (--data DIR or $HARNESS_DATA_DIR): skipping the model measured for accuracy")
    return configs


def run_demo(*, matrix_path, root=None, force=False, progress=True, prune=True, report=True,
             pruned_model: str = "bert-base", data_dir: str | None = None, part: QualityPart = QualityPart()) -> int:
    from harness.measure.bench import run_configs

    configs = demo_configs(matrix_path, data_dir=data_dir, prune=prune, pruned_model=pruned_model, part=part,
                           progress=progress)
    _say(f"{len(configs)} configurations")
    run_configs(configs, root=root, force=force, progress=progress)
    latest = latest_per_config(root, configs)
    print()
    print_summary(latest)
    if report:
        write_reports(latest, root)
    return 0 if any(r.ok for r in latest) else 1


def machine_note(records: list) -> list[str]:
    """A caveat per declared instance type whose CPU's ISA differs from the CPU that measured, naming the catalogue type
    that matches the measuring CPU."""
    notes = []
    for instance in sorted({r.instance_type for r in records if r.instance_type}):
        entry = get(instance)
        machines = {r.machine.id: r.machine for r in records if r.instance_type == instance}
        for m in machines.values():
            if entry is None or not isa_mismatch(entry, m.architecture, m.isa_flags):
                continue
            match = matching_instance(all_instances(), architecture=m.architecture, vendor_id=m.cpu_vendor,
                                      flags=m.isa_flags, logical_cpus=m.logical_cpus)
            notes.append(f"Measured on {m.cpu_model or 'a CPU'} ({m.cpu_family_model or '?'}: "
                         f"{' '.join(isa_classes(m.isa_flags)) or 'no ISA flags recorded'}) while declared as {instance} "
                         f"({entry.isa_label()}): its rows carry 'isa mismatch'"
                         + (f"; the catalogue type matching this CPU is {match.name}" if match else "") + ".")
    return notes


def write_reports(records: list, root=None) -> dict:
    reports = Path(root or "results") / "reports"
    notes = machine_note(records)
    query = CostQuery(sla_ms=DEMO_SLA_MS, qps=DEMO_QPS, region=DEMO_REGION)
    print("\nthe answer (CPU or GPU, per model):")
    cost = write_cost_report(records, reports / "demo", query, preface=notes or None, echo=print,
                             title=f"Demo cost report (SLA p99 <= {DEMO_SLA_MS:g} ms, {DEMO_QPS:g} requests/s, {DEMO_REGION})")
    seed, verdict = write_seed_example(records, reports / "seed", query, notes=notes)
    print(f"cost report: {cost['markdown']} (also .html, .png, .csv)")
    print(f"seed comparison ({SEED.model_label} on CPU vs {SEED.gpu}): {seed['markdown']}")
    for line in notes + list(verdict.lines[:2]):
        print(f"- {line}")
    return {"cost": cost, "seed": seed}


def latest_per_config(root, configs) -> list:
    """The newest record of each configuration (including ones skipped because already recorded)."""
    from harness.measure.bench import variant_key

    wanted = {}
    for i, c in enumerate(configs):
        wanted.setdefault(c.config_hash(variant_key(c)), i)
    newest: dict = {}
    for r in iter_records(root, []):
        h = r.config_hash
        if h in wanted and (h not in newest or (r.created_at or "") >= (newest[h].created_at or "")):
            newest[h] = r
    return sorted(newest.values(), key=lambda r: wanted[r.config_hash])
