"""The speed/accuracy frontier: dense fp32, int8, structured (heads, neurons, layers), unstructured on sparse
kernels and their compounds, measured in one interleaved run on every engine, with quality measured on the
engine that was timed, and the Pareto front of speed-up against quality.

    plan = frontier_plan("minilm", data_dir="../shared/data/sst2")       # accuracy on SST-2 dev
    plan = frontier_plan("bert-base")                                      # agreement with the dense model
    result = run_frontier(plan, out_dir="results/frontier", repeats=2)

Every pruning method runs in the regime it was published for (harness.pruning recipes): movement pruning
gradually during fine-tuning (hard and soft, Sanh et al. 2020), second-order one-shot and with recovery
(Kurtic et al. 2022), layer dropping with distillation (oBERT's 6- and 3-layer models), gradual magnitude, and
post-training heads and neurons without retraining (Kwon et al. 2022; with data). A speed-up is a ratio within
the run: the fastest dense fp32 engine over the configuration, both pooled over the interleaved rounds, with a
bootstrap 95% interval; the same engine's dense fp32 ratio stands beside it, and the report names the CPU and its
instruction sets.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.registry import backend_class
from harness.contracts import BenchConfig, RunRecord, Settings, TaskSpec
from harness.foundation.stats import ratio_with_spread
from harness.models.registry import model_family
from harness.pruning.recipes import Recipe
from harness.results.report.frontier import write_frontier

KD = {"temperature": 2.0, "hardness": 1.0}


def _ft(steps: int, lr: float = 1e-4, batch: int = 16) -> dict:
    return {"steps": steps, "lr": lr, "batch_size": batch}


def variant_recipes(scale: float = 1.0) -> dict[str, dict]:
    """Name -> recipe (dict) of every pruned variant on the frontier; `scale` shortens all training."""
    s = lambda n: max(2, int(n * scale))  # noqa: E731
    second_order = {"block_size": 50, "num_grads": s(128), "damping": 1e-7, "grad_batch_size": 8}
    return {
        "heads-50-kd": {"method": "second-order", "structure": "heads", "sparsity": 0.5, "finetune": _ft(s(300)),
                        "distillation": KD, "second_order": second_order},
        "neurons-50-kd": {"method": "second-order", "structure": "neurons", "sparsity": 0.5, "finetune": _ft(s(300)),
                          "distillation": KD, "second_order": second_order},
        "layers-50-kd": {"method": "magnitude", "structure": "layers", "sparsity": 0.5, "layers": {"select": "alternate"},
                         "finetune": _ft(s(300)), "distillation": KD},
        "obert-80-oneshot": {"method": "second-order", "structure": "unstructured", "sparsity": 0.8, "scope": "global",
                             "finetune": _ft(0), "second_order": second_order},
        "obert-80-kd": {"method": "second-order", "structure": "unstructured", "sparsity": 0.8, "scope": "global",
                        "schedule": {"kind": "cubic", "steps": s(300), "prune_every": s(100), "initial_sparsity": 0.7},
                        "finetune": _ft(s(300)), "distillation": KD, "second_order": second_order},
        "movement-hard-80": {"method": "movement", "structure": "unstructured", "sparsity": 0.8, "scope": "global",
                             "schedule": {"kind": "cubic", "steps": s(600), "prune_every": 10, "initial_sparsity": 0.0,
                                          "warmup_steps": s(100)},
                             "movement": {"variant": "hard"}, "finetune": _ft(s(300), 3e-5), "distillation": KD},
        "movement-soft-80": {"method": "movement", "structure": "unstructured", "sparsity": 0.8, "scope": "global",
                             "schedule": {"kind": "cubic", "steps": s(600), "prune_every": 10, "initial_sparsity": 0.0,
                                          "warmup_steps": s(100)},
                             "movement": {"variant": "soft", "scores_lr": 1e-2, "regularization": 400.0,
                                          "threshold": None},
                             "finetune": _ft(s(300), 3e-5), "distillation": KD},
        "layers-50+neurons-50-kd": {"method": "magnitude", "structure": "layers", "sparsity": 0.5,
                                    "layers": {"select": "alternate"}, "finetune": _ft(s(200)), "distillation": KD,
                                    "then": {"method": "second-order", "structure": "neurons", "sparsity": 0.5,
                                             "finetune": _ft(s(300)), "distillation": KD,
                                             "second_order": second_order}},
        "layers-50+obert-80-kd": {"method": "magnitude", "structure": "layers", "sparsity": 0.5,
                                  "layers": {"select": "alternate"}, "finetune": _ft(s(200)), "distillation": KD,
                                  "then": {"method": "second-order", "structure": "unstructured", "sparsity": 0.8,
                                           "scope": "global", "finetune": _ft(s(300)), "distillation": KD,
                                           "schedule": {"kind": "cubic", "steps": s(300), "prune_every": s(100),
                                                        "initial_sparsity": 0.7},
                                           "second_order": second_order}},
        # oBERT's 3-layer shape (a quarter of BERT-base's 12 layers) with half the FFN neurons, then 80% sparsity
        "layers-75+neurons-50-kd": {"method": "magnitude", "structure": "layers", "sparsity": 0.75,
                                    "layers": {"select": "alternate"}, "finetune": _ft(s(200)), "distillation": KD,
                                    "then": {"method": "magnitude", "structure": "neurons", "sparsity": 0.5,
                                             "finetune": _ft(s(200)), "distillation": KD}},
        "layers-75+neurons-50+obert-80-kd": {
            "method": "magnitude", "structure": "layers", "sparsity": 0.75, "layers": {"select": "alternate"},
            "finetune": _ft(s(200)), "distillation": KD,
            "then": {"method": "magnitude", "structure": "neurons", "sparsity": 0.5, "finetune": _ft(s(200)),
                     "distillation": KD,
                     "then": {"method": "second-order", "structure": "unstructured", "sparsity": 0.8, "scope": "global",
                              "finetune": _ft(s(300)), "distillation": KD, "second_order": second_order}}},
    }


MINILM_VARIANTS = ("heads-50-kd", "neurons-50-kd", "layers-50-kd", "obert-80-oneshot", "obert-80-kd", "movement-hard-80",
                   "movement-soft-80", "layers-50+neurons-50-kd", "layers-50+obert-80-kd")
BERT_BASE_VARIANTS = ("layers-50-kd", "layers-75+neurons-50-kd", "layers-75+neurons-50+obert-80-kd", "obert-80-oneshot")
UNSTRUCTURED = ("obert", "movement")  # variants with zeros a sparse kernel can skip


@dataclass(frozen=True)
class FrontierPlan:
    model: str  # a zoo family
    data_dir: str | None  # SST-2 (accuracy); None: agreement with the dense model on generated inputs
    seq_len: int
    engines: tuple[str, ...] = ("torch", "onnxruntime", "openvino", "deepsparse")
    precisions: tuple[str, ...] = ("fp32", "int8")
    variants: tuple[str, ...] = MINILM_VARIANTS
    post_training: tuple[float, ...] = (0.6, 0.4)  # FLOPs targets of post-training variants (with data only)
    calibration_examples: int = 512  # post-training: training examples of the Fisher pass and reconstruction
    heldout_examples: int = 512  # ... and the held-back ones that judge it
    threads: int = 2
    scale: float = 1.0  # training length (quick runs use less)
    finetune_steps: int = 300
    max_train: int | None = None
    eval_limit: int | None = None
    settings: Settings = field(default_factory=Settings)


def frontier_plan(model: str, data_dir: str | None = None, **kw) -> FrontierPlan:
    seq = kw.pop("seq_len", None) or (64 if data_dir else model_family(model).default_seq_len)
    return FrontierPlan(model=model, data_dir=data_dir, seq_len=seq, **kw)


def build_models(plan: FrontierPlan, work: Path, echo=print) -> tuple[str | None, dict[str, str]]:
    """(dense checkpoint or None, {variant name: directory}): fine-tune (with data), then prune; all cached."""
    from harness.pruning.pruner import make_variant

    from .finetune import finetune

    checkpoint = None
    if plan.data_dir:
        checkpoint = str(work / f"{plan.model}-sst2")
        if not (Path(checkpoint) / "config.json").is_file():
            echo(f"frontier: fine-tuning {plan.model} on SST-2 ({plan.finetune_steps} steps) -> {checkpoint}")
            finetune(plan.model, plan.data_dir, checkpoint, steps=plan.finetune_steps, max_train=plan.max_train)
    name = Path(checkpoint).name if checkpoint else plan.model
    recipes = variant_recipes(plan.scale)
    out = {}
    for v in plan.variants:
        path = work / f"{name}-{v}"
        if not (path / "manifest.json").is_file():
            echo(f"frontier: making {v} -> {path}")
            recipe = Recipe.from_dict({**recipes[v], "data": {"max_train": plan.max_train}}, f"frontier {v}")
            make_variant(name, recipe, out_dir=path, data_dir=plan.data_dir, checkpoint=checkpoint, progress=False,
                         source=f"frontier {v}")
        out[v] = str(path)
    if plan.data_dir and plan.post_training:
        out |= post_training_variants(checkpoint, plan, work, echo)
    return checkpoint, out


def post_training_variants(checkpoint: str, plan: FrontierPlan, work: Path, echo=print) -> dict[str, str]:
    """{name: directory} of the checkpoint pruned after training (no retraining) to each FLOPs target; cached."""
    from harness.pruning.post_training import Target
    from harness.pruning.post_training_variant import PostTrainingPruner

    pruner, out = None, {}
    for flops in plan.post_training:
        name = f"post-training-{round(100 * (1 - flops))}"
        path = work / f"{Path(checkpoint).name}-{name}"
        if not (path / "manifest.json").is_file():
            echo(f"frontier: pruning after training to {flops:g} of the FLOPs -> {path}")
            pruner = pruner or PostTrainingPruner(checkpoint, TaskSpec(name="sst2", data=plan.data_dir),
                                                  calibration_examples=plan.calibration_examples,
                                                  heldout_examples=plan.heldout_examples,
                                                  seq_len=plan.seq_len, threads=plan.threads)
            pruner.make(Target(flops=flops), path)
        out[name] = str(path)
    return out


def frontier_configs(plan: FrontierPlan, checkpoint: str | None, variants: dict[str, str]) -> list[BenchConfig]:
    from harness.models.checkpoint import checkpoint_family

    model = checkpoint_family(checkpoint).name if checkpoint else plan.model
    task = (TaskSpec(name="sst2", data=plan.data_dir, eval_limit=plan.eval_limit) if plan.data_dir
            else TaskSpec(name="teacher", eval_limit=plan.eval_limit))
    configs = []
    for name, directory in [("dense", None), *variants.items()]:
        for engine in plan.engines:
            for precision in plan.precisions:
                if precision == "int8" and engine == "torch" and directory:
                    continue  # torch's dynamic int8 on pruned weights: measured on the dense model only
                kernels = ["dense"]
                if engine == "torch" and precision == "fp32" and any(u in name for u in UNSTRUCTURED):
                    kernels.append("sparse")
                for kernel in kernels:
                    config = BenchConfig(model=model, backend=engine, seq_len=plan.seq_len, threads=plan.threads,
                                         precision=precision, kernel=kernel, variant=directory, checkpoint=checkpoint,
                                         settings=plan.settings, task=task)
                    backend_class(engine)  # an unknown engine fails here, not after the variants are made
                    configs.append(config)
    return configs


@dataclass(frozen=True)
class FrontierRow:
    variant: str
    chain: str
    engine: str
    precision: str
    kernel: str
    status: str
    p50_ms: float | None
    speedup: float | None  # the fastest dense fp32 engine / this configuration (what a user would otherwise run)
    speedup_ci95: tuple[float, float] | None
    quality: float | None  # accuracy (SST-2) or agreement with the dense model (teacher)
    quality_ci95: tuple[float, float] | None
    quality_metric: str
    pareto: bool = False
    speedup_same_engine: float | None = None  # the same engine's dense fp32 / this configuration
    quality_drop: float | None = None  # points below the same engine's dense fp32 model


@dataclass(frozen=True)
class Baseline:
    """The fastest dense fp32 engine of a run: what every speed-up is stated against."""

    engine: str
    p50_ms: float
    samples_ms: tuple[float, ...]


def _median(samples) -> float:
    return sorted(samples)[len(samples) // 2]


def _groups(records: list[RunRecord]) -> dict[tuple, list[RunRecord]]:
    """Records by (variant, engine, precision, kernel): rounds with and without a task pool their samples."""
    groups: dict[tuple, list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.variant_label, r.config.backend, r.config.precision, r.config.kernel), []).append(r)
    return groups


def dense_baselines(records: list[RunRecord]) -> dict[str, tuple[float, ...]]:
    """{engine: pooled samples of its dense fp32 model}."""
    return {k[1]: tuple(x for r in v if r.ok for x in r.samples_ms)
            for k, v in _groups(records).items() if k[0] == "dense" and k[2] == "fp32" and k[3] == "dense"
            and any(r.ok for r in v)}


def fastest_dense(records: list[RunRecord]) -> Baseline | None:
    base = {e: s for e, s in dense_baselines(records).items() if s}
    if not base:
        return None
    engine = min(base, key=lambda e: _median(base[e]))
    return Baseline(engine=engine, p50_ms=_median(base[engine]), samples_ms=base[engine])


def frontier_rows(records: list[RunRecord]) -> list[FrontierRow]:
    """One row per configuration (samples pooled over rounds): speed-up against the fastest dense fp32 engine,
    with the same engine's dense fp32 beside it, and quality with its drop against the same engine's dense fp32."""
    groups = _groups(records)
    base = dense_baselines(records)
    fastest = fastest_dense(records)
    dense_quality = {k[1]: _quality(v) for k, v in groups.items() if k[0] == "dense" and k[2] == "fp32" and k[3] == "dense"}
    rows = []
    for (variant, engine, precision, kernel), recs in groups.items():
        ok = [r for r in recs if r.ok]
        samples = [x for r in ok for x in r.samples_ms]
        ratio = ratio_with_spread(fastest.samples_ms, samples) if samples and fastest else None
        same = _median(base[engine]) / _median(samples) if samples and base.get(engine) else None
        value, ci, metric = _quality(recs)
        reference = dense_quality.get(engine, (None, None, metric))[0]
        rows.append(FrontierRow(
            variant=variant, chain=_chain(ok[-1] if ok else recs[-1]), engine=engine,
            precision=(ok[-1].precision if ok else precision), kernel=ok[-1].kernel if ok else kernel,
            status="ok" if ok else recs[-1].status, p50_ms=_median(samples) if samples else None,
            speedup=ratio["ratio"] if ratio else None, speedup_ci95=tuple(ratio["ci95"]) if ratio else None,
            speedup_same_engine=same, quality=value, quality_ci95=ci, quality_metric=metric,
            quality_drop=round(100.0 * (reference - value), 4) if value is not None and reference is not None else None))
    return mark_pareto(rows)


def _quality(records: list[RunRecord]) -> tuple[float | None, tuple | None, str]:
    """(accuracy or agreement, its interval, which) from the newest record that measured quality."""
    q = next((r.metrics.quality for r in reversed(records) if r.ok and r.metrics.quality is not None), None)
    metric = "accuracy" if q and q.accuracy is not None else "agreement"
    if q is None:
        return None, None, metric
    value = q.accuracy if metric == "accuracy" else q.top1_agreement
    ci = q.accuracy_ci95 if metric == "accuracy" else q.agreement_ci95
    return value, tuple(ci) if ci else None, metric


def _chain(record: RunRecord) -> str:
    if record.effective.quantization:
        return record.effective.quantization.chain or ""
    if not record.config.variant:
        return "dense"
    return f"{record.config.method or '?'} {record.config.structure or '?'}"


def mark_pareto(rows: list[FrontierRow]) -> list[FrontierRow]:
    """Rows no other row beats on both speed-up and quality (higher is better for both)."""
    from dataclasses import replace

    known = [r for r in rows if r.speedup is not None and r.quality is not None]
    front = {id(r) for r in known
             if not any(o.speedup >= r.speedup and o.quality >= r.quality and (o.speedup, o.quality) != (r.speedup, r.quality)
                        for o in known)}
    return [replace(r, pareto=id(r) in front) for r in rows]


def run_frontier(plan: FrontierPlan, *, out_dir, repeats: int = 2, progress: bool = True, echo=None) -> list[FrontierRow]:
    from harness.measure.bench import run_configs

    say = echo or (lambda m: print(m, file=sys.stderr))
    out = Path(out_dir)
    work = out / "models"
    work.mkdir(parents=True, exist_ok=True)
    checkpoint, variants = build_models(plan, work, say)
    configs = frontier_configs(plan, checkpoint, variants)
    say(f"frontier: {len(configs)} configurations x {repeats} interleaved rounds")
    records = run_configs(configs, root=out, force=True, repeats=repeats, progress=progress, calibrate=False)
    rows = frontier_rows(records)
    plan_json = {k: v for k, v in dataclasses.asdict(plan).items() if k != "settings"}
    write_frontier(rows, out, title=f"Speed/quality frontier: {plan.model}", threads=plan.threads,
                   seq_len=plan.seq_len, machine=records[0].machine if records else None,
                   baseline=fastest_dense(records), plan=plan_json)
    return rows
