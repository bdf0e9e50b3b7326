"""`harness trees`: CART minimal cost-complexity pruning, swept over alpha, measured through the runner."""

from __future__ import annotations

import os

from harness.contracts import BenchConfig
from harness.foundation.errors import ConfigError
from harness.measure.machine_fit import check_machine_fit
from harness.models.registry import model_family
from harness.models.tree_data import DATASETS
from harness.variants.trees import is_tree_variants_dir
from harness.workflows.trees import run as trees_run
from harness.workflows.trees.run import TREE_BACKENDS, TREE_BATCH_SIZES, tree_settings

from . import add_command
from .bench import add_force_threads_argument
from .checks import (
    MAX_REPEATS,
    add_results_argument,
    check_out_dirs,
    check_replaceable_output,
    check_results_root,
    integer,
    integers,
    listed,
    real,
)


def register(sub):
    p = add_command(
        sub, "trees",
        "decision trees: cost-complexity path, accuracy and latency against alpha (records + report)",
        "harness trees --dataset breast_cancer --out results/reports --seed 0",
        description=(
            "Grow a CART tree on a data set bundled with scikit-learn, walk its minimal cost-complexity pruning "
            "path, score every alpha (train, test, cross-validation), pick alpha by cross-validation, save a tree "
            "variant per measured alpha, measure them through the runner (records in the store, model "
            "tree-<dataset>, backends sklearn and onnxruntime) and write DIR/trees-<dataset>.md, .csv and .png."
        ),
    )
    p.add_argument("--dataset", default="breast_cancer", choices=list(DATASETS), help="data set (default breast_cancer)")
    p.add_argument("--out", default="results/reports", metavar="DIR", help="report directory (default results/reports)")
    p.add_argument("--seed", type=integer(0, 2**32 - 1), default=0, help="train/test split, tree and CV-fold seed (default 0)")
    p.add_argument("--variants", default=None, metavar="DIR", help="where tree variants go (default DIR/trees-<dataset>-variants)")
    p.add_argument("--max-variants", type=int, default=8, metavar="N",
                   help="measure at most N alphas: evenly spaced on the path plus full, chosen and last (default 8)")
    p.add_argument("--backend", type=listed(), default=list(TREE_BACKENDS), help="sklearn,onnxruntime (default both)")
    p.add_argument("--batch", type=integers(1), default=list(TREE_BATCH_SIZES), help="batch sizes (default 1,1024)")
    p.add_argument("--threads", type=integer(1), default=1, help="worker threads (default 1)")
    add_force_threads_argument(p)
    p.add_argument("--min-duration", type=real(0), default=1.0, metavar="S", help="time at least S seconds per run (default 1)")
    p.add_argument("--repeat", type=integer(1, MAX_REPEATS), default=1, help="run every configuration N times, interleaved")
    p.add_argument("--no-bench", action="store_true", help="sweep and report accuracy only; no latency runs")
    add_results_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.max_variants < 1:
        raise ConfigError(f"--max-variants: expected a positive integer, got {args.max_variants}")
    check_before_work(args)
    report = trees_run.run_trees(
        args.dataset, out_dir=args.out, seed=args.seed, results_root=args.results, variants_dir=args.variants,
        max_variants=args.max_variants, backends=args.backend, batch_sizes=args.batch, threads=args.threads,
        settings=tree_settings(args.min_duration), bench=not args.no_bench, repeats=args.repeat,
        progress=not args.quiet,
    )
    s = report.sweep
    print(f"{s.dataset}: {len(s.rows)} alphas; full tree {s.full.leaves} leaves, test {s.metric} {s.full.test_score:.4f}; "
          f"chosen alpha {s.chosen.alpha:.6g} ({s.chosen.leaves} leaves), test {s.metric} {s.chosen.test_score:.4f}")
    print(f"wrote {report.md_path}, {report.csv_path}, {report.png_path}")
    failed = [r for r in report.records if not r.ok]
    if failed:
        print(f"{len(failed)} of {len(report.records)} runs did not finish; see the report", flush=True)
    return 1 if failed and len(failed) == len(report.records) else 0


def check_before_work(args) -> None:
    """Before growing any tree: the output directories can be written, and the runs fit this machine."""
    check_out_dirs(out=args.out)  # a reports directory shared with other reports: trees adds its own files only
    variants = args.variants or os.path.join(args.out, f"trees-{args.dataset}-variants")
    check_replaceable_output(variants, "--variants", what="a directory of tree variants", owned=is_tree_variants_dir)
    if args.no_bench:
        return
    check_results_root(args.results)
    family = model_family(f"tree-{args.dataset}")
    configs = [BenchConfig(model=family.name, backend=b, batch_size=size, seq_len=family.default_seq_len,
                           threads=args.threads) for b in args.backend for size in args.batch]
    check_machine_fit(configs, force_threads=args.force_threads, flags={"threads": "--threads", "batch_sizes": "--batch"})
