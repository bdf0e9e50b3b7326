"""The frontier's files: frontier.json (rows and plan), frontier.md (a table, Pareto front marked) and
frontier.png (speed-up against quality per engine, the Pareto front joined)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from harness import __version__
from harness.foundation.fsutil import atomic_write_text
from harness.foundation.tables import format_markdown_table

from .figures import pyplot, save_png

FRONTIER_SCHEMA_VERSION = 1
COLUMNS = ["pareto", "variant", "engine", "precision", "kernel", "p50_ms", "speedup", "speedup_ci95", "quality",
           "quality_ci95", "chain", "status"]


def table_rows(rows) -> list[dict]:
    out = []
    for r in sorted(rows, key=lambda r: (-(r.speedup or 0.0), r.engine)):
        out.append({
            "pareto": "*" if r.pareto else "", "variant": r.variant, "engine": r.engine, "precision": r.precision,
            "kernel": r.kernel, "p50_ms": r.p50_ms, "speedup": round(r.speedup, 2) if r.speedup else None,
            "speedup_ci95": f"{r.speedup_ci95[0]:.2f}-{r.speedup_ci95[1]:.2f}" if r.speedup_ci95 else None,
            "quality": round(r.quality, 4) if r.quality is not None else None,
            "quality_ci95": f"{r.quality_ci95[0]:.3f}-{r.quality_ci95[1]:.3f}" if r.quality_ci95 else None,
            "chain": r.chain, "status": r.status,
        })
    return out


def write_frontier(rows, plan, out: Path) -> dict[str, Path]:
    out = Path(out)
    metric = next((r.quality_metric for r in rows if r.quality is not None), "accuracy")
    what = "accuracy on SST-2 dev" if metric == "accuracy" else "top-1 agreement with the dense fp32 model"
    lines = [f"# Speed/quality frontier: {plan.model}", "",
             f"Speed-up: the dense fp32 model on the same engine divided by the configuration (p50, samples pooled over "
             f"the interleaved rounds, bootstrap 95% interval). Quality: {what}, measured on the engine that was timed "
             f"(Wilson 95% interval). `*` marks the Pareto front (no row is both faster and better). Threads "
             f"{plan.threads}, batch 1, sequence {plan.seq_len}.", "",
             format_markdown_table(table_rows(rows), COLUMNS), ""]
    paths = {"markdown": out / "frontier.md", "json": out / "frontier.json", "png": out / "frontier.png"}
    atomic_write_text(paths["markdown"], "\n".join(lines))
    document = {"schema_version": FRONTIER_SCHEMA_VERSION, "harness_version": __version__,
                "plan": {k: v for k, v in dataclasses.asdict(plan).items() if k != "settings"},
                "rows": [dataclasses.asdict(r) for r in rows]}
    atomic_write_text(paths["json"], json.dumps(document, indent=1, default=str) + "\n")
    write_plot(rows, what, paths["png"])
    return paths


def write_plot(rows, what: str, path: Path) -> Path:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(9, 6))
    known = [r for r in rows if r.speedup is not None and r.quality is not None]
    for engine in sorted({r.engine for r in known}):
        pts = [r for r in known if r.engine == engine]
        ax.scatter([r.speedup for r in pts], [r.quality for r in pts], label=engine, alpha=0.8,
                   marker="s" if engine == "deepsparse" else "o")
    front = sorted((r for r in known if r.pareto), key=lambda r: r.speedup)
    if front:
        ax.plot([r.speedup for r in front], [r.quality for r in front], "k--", linewidth=1, label="Pareto front")
        for r in front:
            ax.annotate(f"{r.variant} {r.precision}", (r.speedup, r.quality), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("speed-up over dense fp32 on the same engine (log)")
    ax.set_ylabel(what)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_png(fig, path)
