"""`harness trees`: sweep alpha, save a variant per measured alpha, measure it through the runner and store,
and write the report."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import BenchConfig, RunRecord, Settings
from harness.foundation.errors import choices_error
from harness.models.tree_data import dataset_spec, load_split
from harness.variants.trees import save_tree_variant

from .report import table_rows, write_csv, write_markdown, write_plot
from .sweep import PruningSweep, benchmark_indices, sweep, variant_manifest

TREE_BACKENDS = ("sklearn", "onnxruntime")
TREE_BATCH_SIZES = (1, 1024)


@dataclass(frozen=True)
class TreesReport:
    """What `harness trees` produced: the sweep, the measured records and the files written."""

    sweep: PruningSweep
    rows: tuple[dict, ...]  # one table row per alpha (the CSV's rows)
    records: tuple[RunRecord, ...]
    variant_dirs: tuple[str, ...]
    csv_path: str
    md_path: str
    png_path: str


def tree_settings(min_duration_s: float = 1.0):
    """Measurement settings for trees: calls take microseconds to milliseconds, so a second suffices."""
    return Settings(warmup_iters=20, warmup_s=0.2, min_iters=50, min_duration_s=min_duration_s, timeout_s=300)


def run_trees(dataset: str = "breast_cancer", *, out_dir="results/reports", seed: int = 0,
              results_root=None, variants_dir=None, max_variants: int = 8,
              backends=TREE_BACKENDS, batch_sizes=TREE_BATCH_SIZES, threads: int = 1, settings=None,
              bench: bool = True, repeats: int = 1, progress: bool = True, echo=None) -> TreesReport:
    """Sweep alpha, save a variant per measured alpha, run it through the runner and store, write the report."""
    spec = dataset_spec(dataset)
    for b in backends:
        if b not in TREE_BACKENDS:
            raise choices_error("backend for trees", b, TREE_BACKENDS)
    model_name = f"tree-{dataset}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: print(msg, file=sys.stderr)) if echo is not False else (lambda msg: None)

    split = load_split(dataset, seed)
    say(f"harness trees: {dataset} ({spec.task}), {len(split.X_train)} train / {len(split.X_test)} test rows, "
        f"{spec.n_features} features, seed {seed}; cross-validating every alpha on the path ...")
    result, trees = sweep(split)
    picked = benchmark_indices(result, max_variants)
    vdir = Path(variants_dir) if variants_dir else out / f"trees-{dataset}-variants"
    variant_dirs = {}
    for i in picked:
        variant_dirs[i] = str(save_tree_variant(trees[i], variant_manifest(result, i, model_name=model_name),
                                                vdir / f"alpha-{i:03d}"))
    records: list[RunRecord] = []
    if bench:
        from harness.measure.bench import run_configs

        base = settings or tree_settings()
        configs = [
            BenchConfig(model=model_name, backend=b, batch_size=bs, seq_len=spec.n_features, threads=threads,
                        variant=variant_dirs[i], settings=base)
            for i in picked for b in backends for bs in batch_sizes
        ]
        say(f"harness trees: path of {len(result.rows)} alphas; measuring {len(picked)} of them "
            f"x {len(backends)} backends x {len(batch_sizes)} batch sizes = {len(configs)} runs")
        records = run_configs(configs, root=results_root, force=True, repeats=repeats, progress=progress,
                              calibrate=False, echo=echo)
    rows = table_rows(result, variant_dirs, records, backends, batch_sizes)
    csv_path = write_csv(rows, out / f"trees-{dataset}.csv")
    png_path = write_plot(result, rows, backends, batch_sizes, out / f"trees-{dataset}.png")
    md_path = write_markdown(result, rows, backends, batch_sizes, out / f"trees-{dataset}.md", png_path.name,
                             records, results_root)
    return TreesReport(result, tuple(rows), tuple(records), tuple(variant_dirs[i] for i in picked),
                       str(csv_path), str(md_path), str(png_path))
