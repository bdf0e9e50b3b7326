"""The `harness trees` report: one row per alpha (scores, size, latency per backend and batch), as CSV,
Markdown and a PNG plot."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness.foundation.fsutil import atomic_write_text
from harness.foundation.tables import format_markdown_table
from harness.results.report.figures import pyplot, save_png

from .sweep import PruningSweep


def _latency_key(backend: str, batch: int) -> str:
    return f"{backend}_b{batch}_p50_ms"


def table_rows(result: PruningSweep, variant_dirs: dict, records, backends, batch_sizes) -> list[dict]:
    """One row per alpha: the tree, its scores and, where measured, p50 latency and artifact size per backend.

    With repeats, a configuration's latency is the median of its records' p50s.
    """
    metric = result.metric
    by_key: dict = {}
    for r in records:
        by_key.setdefault((r.config.variant, r.config.backend, r.config.batch_size), []).append(r)
    rows = []
    for row in result.rows:
        vdir = variant_dirs.get(row.index)
        out = {
            "alpha_index": row.index, "alpha": row.alpha, "chosen": row.index == result.chosen_index,
            "leaves": row.leaves, "depth": row.depth, "nodes": row.nodes,
            "decisions_per_item": row.decisions_per_item, f"train_{metric}": row.train_score,
            f"test_{metric}": row.test_score, f"cv_{metric}": row.cv_score, f"cv_{metric}_std": row.cv_std,
            "variant": vdir,
        }
        for b in backends:
            sizes = []
            for bs in batch_sizes:
                recs = by_key.get((vdir, b, bs), []) if vdir else []
                ok = [r for r in recs if r.ok]
                p50s = [r.latency.p50 for r in ok if r.latency.p50 is not None]
                out[_latency_key(b, bs)] = float(np.median(p50s)) if p50s else None
                if recs and not ok:
                    out[f"{b}_b{bs}_status"] = recs[-1].status
                sizes += [r.metrics.artifact_bytes for r in recs if r.metrics.artifact_bytes]
            out[f"{b}_bytes"] = sizes[0] if sizes else None
        rows.append(out)
    return rows


def _columns(rows: list[dict]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    return cols


def write_csv(rows: list[dict], path: Path) -> Path:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    return path


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def write_markdown(result: PruningSweep, rows, backends, batch_sizes, path: Path, png_name: str,
                   records, results_root) -> Path:
    metric = result.metric
    full, chosen = result.full, result.chosen
    measured = [r for r in rows if r["variant"]]
    lines = [
        f"# Minimal cost-complexity pruning: {result.dataset}",
        "",
        f"CART tree (scikit-learn), {result.task}, {result.n_train} training and {result.n_test} test rows, "
        f"{result.n_features} features, split and tree seed {result.seed}. Score: {metric} "
        f"({'fraction correct' if metric == 'accuracy' else 'coefficient of determination'}).",
        "",
        f"- Full tree: {full.leaves} leaves, depth {full.depth}, {full.nodes} nodes; "
        f"train {metric} {full.train_score:.4f}, test {full.test_score:.4f}, {result.cv_folds}-fold CV {full.cv_score:.4f}.",
        f"- Cost-complexity path: {len(rows)} distinct alphas ({result.path_entries} path entries; equal alphas "
        f"prune together) from {result.alphas[0]:.4g} to {result.alphas[-1]:.4g}.",
        f"- Chosen by {result.cv_folds}-fold cross-validation on the training rows (best mean score; ties go to "
        f"the larger alpha): alpha = {chosen.alpha:.6g} (path position {chosen.index}), {chosen.leaves} leaves, "
        f"depth {chosen.depth}; test {metric} {chosen.test_score:.4f} vs {full.test_score:.4f} for the full tree.",
        f"- Latency: p50 per call in ms through the harness runner (one pinned worker per configuration, "
        f"{len(records)} records{', store ' + str(results_root) if results_root else ''}), "
        f"measured for {len(measured)} alphas at batch sizes {', '.join(map(str, batch_sizes))}; "
        f"bytes = the file each backend loads (sklearn: tree.npz arrays; onnxruntime: model.onnx). "
        f"FLOPs are not counted for trees; decisions/item is the mean number of threshold comparisons per test row.",
        "",
        f"![accuracy and latency against alpha]({png_name})",
        "",
    ]
    cols = ["alpha_index", "alpha", "chosen", "leaves", "depth", "nodes", "decisions_per_item",
            f"train_{metric}", f"test_{metric}", f"cv_{metric}"]
    for b in backends:
        cols += [_latency_key(b, bs) for bs in batch_sizes] + [f"{b}_bytes"]
    lines.append(format_markdown_table([{c: _fmt(r.get(c)) for c in cols} for r in rows], cols))
    failed = [(r["alpha_index"], k, v) for r in rows for k, v in r.items() if k.endswith("_status")]
    if failed:
        lines += ["", "Runs that did not finish: " + "; ".join(f"alpha #{i} {k[:-7]}: {v}" for i, k, v in failed)]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def write_plot(result: PruningSweep, rows, backends, batch_sizes, path: Path) -> Path:
    """Three panels against alpha (symmetric-log axis: the path crowds near zero): scores, tree size, latency."""
    plt = pyplot()

    metric = result.metric
    alphas = np.array(result.alphas)
    positive = alphas[alphas > 0]
    linthresh = float(positive.min()) if positive.size else 1.0
    fig, axes = plt.subplots(3, 1, figsize=(8, 10), sharex=True)
    ax = axes[0]
    for key, label in ((f"train_{metric}", "train"), (f"test_{metric}", "test"), (f"cv_{metric}", f"{result.cv_folds}-fold CV")):
        ax.plot(alphas, [r[key] for r in rows], marker="o", markersize=3, drawstyle="steps-post", label=label)
    ax.axvline(result.chosen.alpha, color="grey", linestyle="--", label=f"chosen alpha {result.chosen.alpha:.3g}")
    ax.set_ylabel(metric)
    ax.set_title(f"Minimal cost-complexity pruning: {result.dataset}")
    ax.legend(loc="best", fontsize=8)
    ax = axes[1]
    ax.plot(alphas, [r["leaves"] for r in rows], marker="o", markersize=3, drawstyle="steps-post", label="leaves")
    ax.plot(alphas, [r["depth"] for r in rows], marker="s", markersize=3, drawstyle="steps-post", label="depth")
    ax.set_ylabel("count")
    ax.legend(loc="best", fontsize=8)
    ax = axes[2]
    plotted = False
    for b in backends:
        for bs in batch_sizes:
            pts = [(r["alpha"], r[_latency_key(b, bs)]) for r in rows if r.get(_latency_key(b, bs))]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=f"{b} batch {bs}")
                plotted = True
    ax.set_ylabel("p50 latency per call (ms)")
    if plotted:
        ax.set_yscale("log")
        ax.legend(loc="best", fontsize=8)
    else:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
    ax.set_xscale("symlog", linthresh=linthresh)
    ax.set_xlim(left=0.0, right=float(alphas[-1]) * 1.5 if alphas[-1] > 0 else 1.0)
    ax.set_xlabel("alpha (symmetric log scale)")
    for a in axes:
        a.grid(True, alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)
