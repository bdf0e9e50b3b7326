"""Does sparsity pay on this CPU? BERT-base at 90% unstructured sparsity on every backend, in one run.

One interleaved run through the ordinary runner (records appended to the store): every configuration once
per round, `--repeat` rounds. Within a round the configurations of one backend run back to back (so the
pairs compared are minutes apart at most), and every other round runs the whole order reversed (A B B A),
which cancels a linear drift of a shared machine. Then:

  1. DeepSparse on the 90% model vs DeepSparse on the dense model          (target: >= 2.5x)
  2. torch with the CSR kernel on the 90% model vs torch dense              (target: >= 1.5x)
  3. the crossover sparsity of each backend/kernel over the sweep 0-97%    (harness.workflows.sweep definitions)
  4. the 90% BERT-base vs the dense DistilBERT on each backend

Every ratio is median/median of the pooled samples with a bootstrap 95% interval
(harness.foundation.stats.ratio_with_spread), shown next to the same ratio computed within each round (a step change
in the machine's background load shows up as rounds that disagree). Configurations run: torch dense at 0% and the focus sparsity, torch
sparse at every pruned sparsity, onnxruntime / openvino dense / deepsparse at every sparsity, openvino
with its sparse-weights option at the focus sparsity (to record whether it engaged), and the comparison
model dense on each backend.

    .venv/bin/python benchmarks/sparse_speedups.py --repeat 3                     # BERT-base, about 25 minutes
    .venv/bin/python benchmarks/sparse_speedups.py --quick --out /tmp/sparse-smoke   # tiny models on torch: a smoke run

Writes OUT/speedups.json, OUT/speedups.md (default OUT = results/sparse). Not an asv suite: a script.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from harness.contracts import describe_evidence
from harness.foundation.fsutil import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SCHEMA_VERSION = 1  # 1 - first version: spec, run, sweep rows, crossovers, headline ratios (pooled, per round), comparisons
SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97)
BACKENDS = ("torch", "onnxruntime", "openvino", "deepsparse")
TARGETS = {"deepsparse_90_vs_dense": 2.5, "torch_csr_90_vs_torch_dense": 1.5}


def plan(model: str, compare: str, sparsities, focus: float, *, seq_len: int, threads: int, settings,
         variants: dict, instance_type: str | None = None, backends=BACKENDS) -> list[list]:
    """The configurations of one round, as one block per backend (its sparsity series, then the
    comparison model on that backend)."""
    from harness.contracts import BenchConfig

    def cfg(m, backend, kernel="dense", variant=None):
        return BenchConfig(model=m, backend=backend, seq_len=seq_len, threads=threads, kernel=kernel,
                           variant=variant, instance_type=instance_type, settings=settings)

    blocks = []
    for backend in backends:
        block = []
        for s in sparsities:
            v = variants[s]
            if backend == "torch":
                if s == 0 or s == focus:
                    block.append(cfg(model, "torch", "dense", v))
                if s > 0:
                    block.append(cfg(model, "torch", "sparse", v))
            else:
                block.append(cfg(model, backend, "dense", v))
                if backend == "openvino" and s == focus:
                    block.append(cfg(model, backend, "sparse", v))
        block.append(cfg(compare, backend))
        blocks.append(block)
    return blocks


def round_orders(blocks: list[list], repeat: int) -> list[list]:
    """The run order of each round: the blocks in order on even rounds, the whole sequence reversed on odd."""
    flat = [c for block in blocks for c in block]
    return [flat if r % 2 == 0 else flat[::-1] for r in range(repeat)]


def _samples(records, **match) -> list[float]:
    out = []
    for r in records:
        if r.ok and all(getattr(r.config, k) == v for k, v in match.items()):
            out += r.samples_ms
    return out


def _ratio(slow, fast) -> dict | None:
    """How many times faster `fast` is than `slow`: median(slow)/median(fast), 95% interval."""
    from harness.foundation.stats import ratio_with_spread

    if not slow or not fast:
        return None
    r = ratio_with_spread(slow, fast)
    return {"ratio": r["ratio"], "ci95": r["ci95"], "n_slow": len(slow), "n_fast": len(fast)}


def _compare(records, rounds: dict, slow: dict, fast: dict) -> dict | None:
    """The pooled ratio (with interval) of `slow` over `fast` configurations, and the ratio within each round."""
    pooled = _ratio(_samples(records, **slow), _samples(records, **fast))
    if pooled is None:
        return None
    per_round = []
    for r in sorted(set(rounds.values())):
        these = [x for x in records if rounds.get(x.record_id) == r]
        rr = _ratio(_samples(these, **slow), _samples(these, **fast))
        if rr:
            per_round.append(round(rr["ratio"], 3))
    return pooled | {"per_round": per_round}


def analyse(records, *, model, compare, variants, focus, rounds: dict, backends=BACKENDS) -> dict:
    from harness.workflows.sweep import crossovers, sweep_rows

    target = {v: s for s, v in variants.items()}
    main = [r for r in records if r.config.model == model]
    rows = sweep_rows(main, lambda r: target.get(r.config.variant))
    vf, v0 = variants[focus], variants[0.0]
    headline = {
        "deepsparse_90_vs_dense": _compare(main, rounds, dict(backend="deepsparse", variant=v0),
                                           dict(backend="deepsparse", variant=vf)),
        "torch_csr_90_vs_torch_dense": _compare(main, rounds, dict(backend="torch", kernel="dense", variant=v0),
                                                dict(backend="torch", kernel="sparse", variant=vf)),
        "torch_csr_90_vs_torch_dense_same_model": _compare(main, rounds, dict(backend="torch", kernel="dense", variant=vf),
                                                           dict(backend="torch", kernel="sparse", variant=vf)),
    }
    comparisons = {}
    for backend in backends:
        kernel = "sparse" if backend == "torch" else "dense"
        comparisons[backend] = {
            "pruned_kernel": kernel,
            "pruned_p50_ms": _p50(_samples(main, backend=backend, kernel=kernel, variant=vf)),
            "compare_p50_ms": _p50(_samples(records, model=compare, backend=backend)),
            "speedup": _compare(records, rounds, dict(model=compare, backend=backend),
                                dict(model=model, backend=backend, kernel=kernel, variant=vf)),
        }
    kernels_ran = {}
    for r in records:
        c = r.config
        key = f"{c.model} {c.backend}/{c.kernel} {target.get(c.variant, 0.0) if c.model == model else 0.0:g}"
        effective = r.effective
        kernels_ran[key] = {"status": r.status, "kernel": effective.kernel if effective else None,
                            "evidence": describe_evidence(effective.kernel_evidence) if effective else "", "reason": r.reason}
    # the same configuration's p50 in each round: how steady the shared machine was
    p50s: dict = {}
    for r in records:
        if r.ok and r.latency.p50 is not None:
            c = r.config
            p50s.setdefault((c.model, c.backend, c.kernel, c.variant), []).append(r.latency.p50)
    spreads = [max(v) / min(v) for v in p50s.values() if len(v) > 1]
    stability = {"max_round_p50_spread": round(max(spreads), 3) if spreads else None,
                 "median_round_p50_spread": round(_p50(spreads), 3) if spreads else None}
    return {"rows": rows, "crossovers": crossovers(rows), "headline": headline, "comparisons": comparisons,
            "kernels_ran": kernels_ran, "stability": stability}


def _p50(samples):
    if not samples:
        return None
    v = sorted(samples)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def _fmt_ratio(r) -> str:
    if not r:
        return "n/a (a configuration failed)"
    text = f"{r['ratio']:.2f}x (95% CI {r['ci95'][0]:.2f}-{r['ci95'][1]:.2f}; n={r['n_slow']}/{r['n_fast']})"
    if r.get("per_round"):
        text += "; per round " + ", ".join(f"{x:.2f}" for x in r["per_round"])
    return text


def to_markdown(result: dict) -> str:
    from harness.workflows.sweep import format_sweep

    a, spec = result["analysis"], result["spec"]
    m = result["machine"]
    focus = spec["focus"]
    lines = [
        f"# Sparse speedups: {spec['model']}, batch 1, sequence {spec['seq_len']}, {spec['threads']} thread(s)",
        "",
        f"Machine: {m.get('cpu_model')} ({m.get('logical_cpus')} CPUs), shared with other work while measured. "
        f"One run, {spec['repeat']} interleaved rounds (one block per backend; odd rounds reversed), "
        f"{result['run']['wall_s'] / 60:.0f} min; {len(result['run']['record_ids'])} records in the store. "
        "Ratios: median/median of pooled samples, bootstrap 95% interval, then the ratio within each round.",
        f"Machine steadiness: the same configuration's p50 differed between rounds by up to "
        f"{a['stability']['max_round_p50_spread']}x (median {a['stability']['median_round_p50_spread']}x).",
        "",
        "## Headline",
        "",
        "| comparison | speedup | target |",
        "|---|---|---|",
        f"| DeepSparse, {focus:.0%} model vs dense model | {_fmt_ratio(a['headline']['deepsparse_90_vs_dense'])} | >= {TARGETS['deepsparse_90_vs_dense']}x |",
        f"| torch CSR kernel on the {focus:.0%} model vs torch dense (dense model) | {_fmt_ratio(a['headline']['torch_csr_90_vs_torch_dense'])} | >= {TARGETS['torch_csr_90_vs_torch_dense']}x |",
        f"| torch CSR kernel vs torch dense kernel, both on the {focus:.0%} model | {_fmt_ratio(a['headline']['torch_csr_90_vs_torch_dense_same_model'])} | |",
        "",
        "## Sweep: median latency per sparsity (speedup over the backend's dense model, 95% CI)",
        "",
        format_sweep(a["rows"], a["crossovers"]),
        "",
        "Crossover: the lowest sparsity from which the speedup's 95% interval lies above 1.05 at every higher measured sparsity.",
        "",
        f"## {spec['model']} at {focus:.0%} vs dense {spec['compare']}, per backend",
        "",
        f"| backend | {spec['model']} {focus:.0%} kernel | {spec['model']} {focus:.0%} p50 ms | {spec['compare']} p50 ms | speedup of pruned {spec['model']} |",
        "|---|---|---|---|---|",
    ]
    for backend, c in a["comparisons"].items():
        p = f"{c['pruned_p50_ms']:.2f}" if c["pruned_p50_ms"] else "n/a"
        q = f"{c['compare_p50_ms']:.2f}" if c["compare_p50_ms"] else "n/a"
        lines.append(f"| {backend} | {c['pruned_kernel']} | {p} | {q} | {_fmt_ratio(c['speedup'])} |")
    lines += ["", "## Which kernel ran (from the records)", "", "| configuration | status | kernel | evidence |", "|---|---|---|---|"]
    for key, k in a["kernels_ran"].items():
        brief = k["evidence"]
        if k["status"] != "ok":
            brief = k["reason"]
        lines.append(f"| {key} | {k['status']} | {k['kernel']} | {str(brief)[:160]} |")
    return "\n".join(lines) + "\n"


FULL = {"model": "bert-base", "compare": "distilbert", "sparsities": ",".join(f"{s:g}" for s in SPARSITIES),
        "backends": ",".join(BACKENDS), "seq": 128, "repeat": 3, "min_duration": 3.0, "min_iters": 15, "warmup": 3,
        "warmup_s": 1.0}
QUICK = {"model": "bert-tiny", "compare": "distilbert-tiny", "sparsities": "0,0.9", "backends": "torch",
         "seq": 16, "repeat": 1, "min_duration": 0.05, "min_iters": 5, "warmup": 1, "warmup_s": 0.0}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help=f"default {FULL['model']}")
    p.add_argument("--compare", default=None, help=f"the dense model the pruned one is compared with (default {FULL['compare']})")
    p.add_argument("--sparsities", default=None, help=f"default {FULL['sparsities']}")
    p.add_argument("--backends", default=None, help=f"default {FULL['backends']}")
    p.add_argument("--focus", type=float, default=0.9, help="the sparsity of the headline comparisons")
    p.add_argument("--seq", type=int, default=None, help=f"default {FULL['seq']}")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=None, help=f"interleaved rounds (default {FULL['repeat']})")
    p.add_argument("--min-duration", type=float, default=None,
                   help=f"seconds timed per configuration per round (default {FULL['min_duration']:g})")
    p.add_argument("--min-iters", type=int, default=None, help=f"default {FULL['min_iters']}")
    p.add_argument("--warmup", type=int, default=None, help=f"default {FULL['warmup']}")
    p.add_argument("--warmup-s", type=float, default=None, help=f"and at least S seconds (default {FULL['warmup_s']:g})")
    p.add_argument("--quick", action="store_true", help="tiny models, two sparsities, torch (dense and CSR), one short "
                                                        "round: a smoke run, not a measurement")
    p.add_argument("--scope", default="global", help="magnitude ranking: global or per-layer")
    p.add_argument("--instance-type", default=None)
    p.add_argument("--results", default=None, help="results store (default results/)")
    p.add_argument("--out", default="results/sparse")
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():  # explicit flags win over either set
        if getattr(args, key) is None:
            setattr(args, key, value)
    return p, args


def main(argv=None) -> int:
    import dataclasses

    p, args = parse_args(argv)

    from harness.contracts import Settings
    from harness.foundation.machine import fingerprint
    from harness.measure.bench import run_configs
    from harness.workflows.sweep import SweepSpec, ensure_variants

    sparsities = tuple(float(s) for s in args.sparsities.split(","))
    if 0.0 not in sparsities or args.focus not in sparsities:
        p.error("--sparsities must include 0 and the --focus sparsity")
    settings = Settings(min_duration_s=args.min_duration, min_iters=args.min_iters, warmup_iters=args.warmup,
                        warmup_s=args.warmup_s, timeout_s=1800)
    backends = tuple(args.backends.split(","))
    spec = SweepSpec(model=args.model, sparsities=sparsities, backends=backends, kernels=("dense", "sparse"),
                     seq_len=args.seq, threads=args.threads, scope=args.scope, repeats=args.repeat, settings=settings)
    variants = ensure_variants(spec, echo=lambda m: print(m, file=sys.stderr))
    blocks = plan(args.model, args.compare, sparsities, args.focus, seq_len=args.seq, threads=args.threads,
                  settings=settings, variants=variants, instance_type=args.instance_type, backends=backends)
    orders = round_orders(blocks, args.repeat)
    print(f"{len(orders[0])} configurations x {args.repeat} interleaved rounds", file=sys.stderr)
    t0 = time.time()
    records, rounds = [], {}
    for r, order in enumerate(orders):
        for record in run_configs(order, root=args.results, force=True, repeats=1, progress=False):
            rounds[record.record_id] = r
            records.append(record)
    wall_s = time.time() - t0
    analysis = analyse(records, model=args.model, compare=args.compare, variants=variants, focus=args.focus,
                       rounds=rounds, backends=backends)
    result = {
        "schema_version": SCHEMA_VERSION,
        "spec": {"model": args.model, "compare": args.compare, "sparsities": list(sparsities), "focus": args.focus,
                 "seq_len": args.seq, "batch_size": 1, "threads": args.threads, "repeat": args.repeat, "backends": list(backends),
                 "scope": args.scope, "settings": dataclasses.asdict(settings)},
        "machine": fingerprint(args.instance_type),
        "run": {"wall_s": wall_s, "record_ids": [r.record_id for r in records], "round_of_record": rounds,
                "git_commit": records[0].git_commit if records else None},
        "variants": {f"{k:g}": v for k, v in variants.items()},
        "targets": TARGETS,
        "analysis": {**analysis, "rows": [dataclasses.asdict(r) | {"label": r.label} for r in analysis["rows"]]},
    }
    md_result = dict(result, analysis=analysis)
    out = Path(args.out)
    stem = f"speedups-{args.model}-s{args.seq}-t{args.threads}"
    atomic_write_text(out / f"{stem}.json", json.dumps(result, indent=1, default=str) + "\n")
    md = to_markdown(md_result)
    atomic_write_text(out / f"{stem}.md", md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
