"""`harness compress`: the fastest compression of a fine-tuned checkpoint that stays within a quality budget, found
in minutes and without a training run.

    plan = CompressPlan(checkpoint="checkpoints/minilm-sst2", data_dir="data/sst2", backends=("openvino", "onnxruntime"))
    document = run_compress(plan, out="out/minilm")      # out/compress.json names `chosen`

What it tries, in this order, each step only while the budget (set-up included) allows it:
  1. the dense model in fp32 on every engine (the baseline: the fastest of them is what a user would run), then
     in int8 on every engine (the sensitivity pass keeps the drop on held-back training examples within budget);
  2. post-training pruning (harness.pruning.post_training: Fisher mask search, rearrangement, least-squares
     reconstruction, no retraining) at each FLOPs target, mildest first; a target whose drop on the held-back
     slice of the training split is already far outside the budget is not measured, and no harsher one is made;
     each variant in fp32 and int8 on every engine (int8 only where the engine's dense int8 beat its dense fp32);
  3. a confirming round that times the dense baselines and the front again, so the speed-ups are ratios of samples
     interleaved over the run.
Every candidate is measured on its engine with accuracy on the task's dev split (the report's); the choice is the
fastest candidate whose dev accuracy is at most `max_quality_drop` points below its engine's dense fp32 model.
Speed-ups are against the fastest dense fp32 engine, with the same engine's ratio beside them.

OUT holds variants/ (ordinary variant directories), runs/ (the records), frontier.md/.png/.json and compress.json
(schema below), rewritten atomically after every step: a run stopped by the budget or by Ctrl-C leaves the best
found so far, and a rerun resumes (variants and records already there are reused).

compress.json (harness.workflows.compress_report, schema version 1): kind "harness-compress", plan, machine {cpu_model, isa, id}, status
("complete", "stopped at the budget"), elapsed_s, budget_s, baseline {engine, p50_ms, accuracy}, candidates
[{variant, variant_dir, engine, precision, status, p50_ms, speedup, speedup_ci95, speedup_same_engine, accuracy,
accuracy_drop, heldout_drop, chain, phases_s, pareto, reason}], chosen {variant_dir, backend, precision, speedup,
speedup_ci95, speedup_same_engine, accuracy, accuracy_drop, p50_ms, bench}, skipped [{step, reason}], timings_s.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.contracts import BenchConfig, RunRecord, TaskSpec

from . import compress_report

CONFIRM_ROUNDS = 2
CONFIRM_STEP_S = 8.0  # a timing-only measurement of a cached artifact: worker, load, warm-up, the timed loop
from harness.foundation.machine import fingerprint, git_commit
from harness.results.store import iter_records
from harness.variants.neural import read_manifest

from .compress_plan import (  # noqa: F401 (the plan and its checks are part of this workflow's interface)
    CANDIDATE_OVERHEAD_S,
    COMPRESS_SETTINGS,
    DEFAULT_TARGETS,
    MIN_INT8_BUDGET_POINTS,
    SCREEN_MARGIN_POINTS,
    CompressPlan,
    check_out,
    check_plan,
)


@dataclass
class _Clock:
    started: float
    budget_s: float
    spent: dict = field(default_factory=dict)  # kind of step -> [seconds, ...]

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def left(self) -> float:
        return self.budget_s - self.elapsed

    reserve_s: float = 0.0  # kept for the confirming round while searching

    def estimate(self, kind: str, default: float) -> float:
        """The longest step of this kind so far, a quarter more (a busy machine slows later steps), else `default`."""
        seen = self.spent.get(kind)
        return 1.25 * max(seen) if seen else default

    def fits(self, kind: str, default: float) -> bool:
        return self.estimate(kind, default) + self.reserve_s <= self.left

    def add(self, kind: str, seconds: float) -> None:
        self.spent.setdefault(kind, []).append(seconds)


class Compressor:
    """One compress run: the plan, OUT, the budget clock, the records so far."""

    def __init__(self, plan: CompressPlan, out, *, progress: bool = True, echo=None, started: float | None = None):
        from harness.models.checkpoint import checkpoint_family

        self.plan, self.out = plan, Path(out)
        self.say = echo or (lambda m: print(f"harness compress: {m}", file=sys.stderr))
        self.clock = _Clock(started if started is not None else time.monotonic(), plan.budget_s)
        self.family = checkpoint_family(plan.checkpoint)
        self.model = self.family.name
        self.machine = fingerprint(None)
        self.commit = git_commit()
        self.task = TaskSpec(name=plan.task, data=plan.data_dir, eval_limit=plan.eval_limit)
        self.records: list[RunRecord] = []
        self.previous: dict[str, list] = {}  # config hash -> records of earlier runs on this machine and commit
        for r in sorted(iter_records(self.out, []), key=lambda r: r.created_at or ""):
            if r.machine.id == self.machine["id"] and r.git_commit == self.commit:
                self.previous.setdefault(r.config_hash, []).append(r)
        self.variants: dict[str, dict] = {}  # name -> {"dir", "manifest"}
        self.skipped: list[dict] = []
        self.write_s: dict[str, float] = {}
        self.status = "running"
        self.pruner = None
        self.progress = progress
        self.bar = None

    # -- steps -----------------------------------------------------------------------------------------
    def config(self, backend: str, precision: str, variant: str | None, *, task: bool = True,
               int8_max_drop: float | None = None) -> BenchConfig:
        settings = self.plan.settings
        if precision == "int8":
            settings = dataclasses.replace(settings, int8_max_drop=int8_max_drop,
                                           heldout_examples=self.plan.heldout_examples)
        return BenchConfig(model=self.model, backend=backend, batch_size=1, seq_len=self.plan.seq_len,
                           threads=self.plan.threads, precision=precision, variant=variant,
                           checkpoint=self.plan.checkpoint, settings=settings, task=self.task if task else None)

    def measure(self, config: BenchConfig, label: str) -> RunRecord | None:
        """Measure (or reuse from an earlier run) one configuration; None when the budget cannot hold it."""
        from harness.measure.bench import measure, store_record, variant_key

        key = config.config_hash(variant_key(config))
        if self.previous.get(key):  # resumed: each earlier record stands for one measurement of this run
            record = self.previous[key].pop(0)
            self.records.append(record)
            return record
        kind = f"measure-{config.precision}-{'task' if config.task else 'timing'}"
        default = CANDIDATE_OVERHEAD_S + config.settings.min_duration_s + (30.0 if config.precision == "int8" else 5.0)
        if not self.clock.fits(kind, default):
            self.skipped.append({"step": label, "reason": "budget"})
            return None
        self._status(label)
        t0 = time.monotonic()
        # no GEMM-peak calibration (the roofline): its first run would cost the budget a minute
        record = measure(config, machine=self.machine, commit=self.commit, calibrate=False, root=self.out)
        w0 = time.perf_counter()
        store_record(record, self.out)
        self.write_s[record.record_id] = round(time.perf_counter() - w0, 4)
        self.clock.add(kind, time.monotonic() - t0)
        self.records.append(record)
        self.say(f"{label}: " + (f"p50 {record.latency.p50:.2f} ms" if record.ok else f"{record.status}: {record.reason}")
                 + (f", accuracy {record.metrics.quality.accuracy:.4f}" if record.ok and record.metrics.quality
                    and record.metrics.quality.accuracy is not None else ""))
        return record

    def prune(self, flops: float) -> dict | None:
        """The post-training variant at `flops` (made, or found in OUT/variants); None when the budget is out."""
        from harness.pruning.post_training import Target
        from harness.pruning.post_training_variant import PostTrainingPruner

        name = f"post-training-{round(100 * (1 - flops))}"
        path = self.out / "variants" / name
        if (path / "manifest.json").is_file():
            entry = {"name": name, "dir": str(path), "manifest": read_manifest(path)}
        else:
            default = 60.0 if self.pruner is None else 20.0
            if not self.clock.fits("prune", default):
                self.skipped.append({"step": f"prune {name}", "reason": "budget"})
                return None
            self._status(f"pruning to {flops:g} of the FLOPs")
            t0 = time.monotonic()
            if self.pruner is None:
                self.pruner = PostTrainingPruner(self.plan.checkpoint, self.task.replace(eval_limit=None),
                                                 calibration_examples=self.plan.calibration_examples,
                                                 heldout_examples=self.plan.heldout_examples,
                                                 seq_len=self.plan.seq_len, threads=self.plan.threads)
            self.pruner.make(Target(flops=flops), path)
            self.clock.add("prune", time.monotonic() - t0)
            entry = {"name": name, "dir": str(path), "manifest": read_manifest(path)}
        manifest = entry["manifest"]
        q = manifest.quality
        entry["heldout_drop"] = round(100.0 * (q.dense.accuracy - q.pruned.accuracy), 4)
        self.variants[name] = entry
        self.say(f"{name}: {manifest.post_training['cost_fraction']:.2f} of the FLOPs, held-back drop "
                 f"{entry['heldout_drop']:.2f} points, made in {manifest.wall_time_s:.0f} s")
        return entry

    # -- the run -----------------------------------------------------------------------------------------
    def run(self) -> dict:
        from tqdm import tqdm

        p = self.plan
        engines = list(p.backends)
        int8 = "int8" in p.precisions
        total = len(engines) * (2 if int8 else 1) + len(p.targets) * (1 + len(engines) * (2 if int8 else 1))
        total += CONFIRM_ROUNDS * (len(engines) + 1) if p.confirm else 0
        if p.confirm:
            self.clock.reserve_s = CONFIRM_ROUNDS * (len(engines) + 1) * (CONFIRM_STEP_S + p.settings.min_duration_s)
        self.out.mkdir(parents=True, exist_ok=True)
        self.bar = tqdm(total=total, unit="step", disable=not self.progress, file=sys.stderr, dynamic_ncols=True)
        try:
            dense = {e: self.measure(self.config(e, "fp32", None), f"dense {e} fp32") for e in engines}
            self._step(len(engines))
            int8_engines = []
            if int8:
                for e in engines:
                    r = self.measure(self.config(e, "int8", None, int8_max_drop=p.max_quality_drop), f"dense {e} int8")
                    self._step()
                    if r is not None and r.ok and dense[e] is not None and dense[e].ok and r.latency.p50 < dense[e].latency.p50:
                        int8_engines.append(e)
                    elif r is not None:
                        self.skipped.append({"step": f"int8 of pruned variants on {e}",
                                             "reason": "the dense int8 model was not faster than dense fp32 there"})
            self.write()
            self._targets(engines, int8_engines)
            if p.confirm:
                self._confirm(engines)
            self.status = "complete" if not any(s["reason"] == "budget" for s in self.skipped) else "stopped at the budget"
        finally:
            self.bar.close()
        return self.write()

    def _targets(self, engines, int8_engines) -> None:
        p = self.plan
        for i, flops in enumerate(sorted(p.targets, reverse=True)):
            variant = self.prune(flops)
            self._step()
            if variant is None:
                self._step(len(engines) * (1 + len(int8_engines)))
                continue
            if variant["heldout_drop"] > p.max_quality_drop + SCREEN_MARGIN_POINTS:
                rest = sorted(p.targets, reverse=True)[i + 1:]
                self.skipped.append({"step": f"measure {variant['name']}" + (f" and targets {rest}" if rest else ""),
                                     "reason": f"held-back drop {variant['heldout_drop']:.2f} points is beyond the "
                                               f"budget of {p.max_quality_drop:g} + {SCREEN_MARGIN_POINTS:g}"})
                self._step(len(engines) * (1 + len(int8_engines)))
                self._step((len(rest)) * (1 + len(engines) * (1 + len(int8_engines))))
                break
            budget8 = max(MIN_INT8_BUDGET_POINTS, p.max_quality_drop - max(0.0, variant["heldout_drop"]))
            for e in engines:
                self.measure(self.config(e, "fp32", variant["dir"]), f"{variant['name']} {e} fp32")
                self._step()
                if e in int8_engines:
                    self.measure(self.config(e, "int8", variant["dir"], int8_max_drop=round(budget8, 4)),
                                 f"{variant['name']} {e} int8")
                    self._step()
            self.write()

    def _confirm(self, engines) -> None:
        """Time the dense baselines and the chosen candidate again, back to back and without an accuracy pass, in
        CONFIRM_ROUNDS rounds: the chosen speed-up is the ratio of these samples (the search's candidates were
        timed minutes apart, while other work may have loaded the machine differently)."""
        self.clock.reserve_s = 0.0
        chosen = compress_report.chosen(self, self.rows())
        again = [(e, "fp32", None, None) for e in engines]
        if chosen is not None and (chosen["variant_dir"] or chosen["precision"] != "fp32"):
            again.append((chosen["backend"], chosen["precision"], chosen["variant_dir"], chosen["int8_max_drop"]))
        for round_ in range(CONFIRM_ROUNDS):
            for e, precision, variant, drop in again:
                self.measure(self.config(e, precision, variant, task=False, int8_max_drop=drop),
                             f"confirm {round_ + 1} {Path(variant).name if variant else 'dense'} {e} {precision}")
                self._step()

    def search_records(self) -> list:
        """The search's records, each with its accuracy pass: the candidates, their speed-ups and the choice come from
        these alone, so the confirming round (timed without one) cannot change which candidate it confirmed."""
        return [r for r in self.records if r.config.task is not None]

    def rows(self):
        return compress_report.table(self.search_records())

    def write(self) -> dict:
        return compress_report.write(self)

    def _status(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_description(what[:40])
            self.bar.set_postfix_str(f"{max(0.0, self.clock.left) / 60:.1f} min left")

    def _step(self, n: int = 1) -> None:
        if self.bar is not None and n:
            self.bar.update(n)




def run_compress(plan: CompressPlan, out, *, progress: bool = True, echo=None, started: float | None = None) -> dict:
    """Check the plan, run it within its budget, return the compress.json document (also written to OUT)."""
    check_plan(plan)
    check_out(plan, out)
    return Compressor(plan, out, progress=progress, echo=echo, started=started).run()
