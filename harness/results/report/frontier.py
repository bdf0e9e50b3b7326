"""The frontier's files: frontier.json (rows, plan, the machine), frontier.md (a table, Pareto front marked) and
frontier.png (speed-up against quality per engine, the Pareto front joined). `harness compress` writes the same
three for its candidates.

Speed-ups are stated against the fastest dense fp32 engine of the run (what a user would otherwise deploy), the
same engine's dense fp32 ratio beside it, and the CPU and its instruction sets are named: int8 and sparse kernels
gain far more on a CPU with AVX-512 VNNI (or AMX) than on one with AVX2 only.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from harness import __version__
from harness.foundation.fsutil import atomic_write_text
from harness.foundation.tables import format_markdown_table

from .figures import pyplot, save_png

FRONTIER_SCHEMA_VERSION = 2  # 2: speed-up against the fastest dense fp32 engine, same-engine ratio, quality drop, machine
COLUMNS = ["pareto", "variant", "engine", "precision", "kernel", "p50_ms", "speedup", "speedup_ci95", "same_engine",
           "quality", "quality_ci95", "drop_points", "chain", "status"]


def isa_summary(flags) -> str:
    """The instruction sets that decide int8 and fp32 speed, in words: "AVX2 + FMA (no AVX-512, no VNNI)"."""
    flags = set(flags or ())
    if not flags:
        return "instruction sets not recorded"
    parts = []
    if "avx512f" in flags:
        parts.append("AVX-512")
    elif "avx2" in flags:
        parts.append("AVX2" + (" + FMA" if "fma" in flags else ""))
    if "avx512_vnni" in flags or "avx_vnni" in flags:
        parts.append("VNNI")
    if "avx512_bf16" in flags:
        parts.append("bf16")
    if "amx_int8" in flags or "amx_tile" in flags:
        parts.append("AMX")
    if {"asimd", "neon"} & flags:
        parts.append("NEON")
    missing = [name for name, have in (("AVX-512", "avx512f" in flags),
                                       ("VNNI", bool({"avx512_vnni", "avx_vnni"} & flags))) if not have]
    text = " + ".join(parts) or "no AVX2"
    return text + (f" (no {', no '.join(missing)})" if missing and "avx2" in flags else "")


def machine_line(machine) -> str:
    """"AMD EPYC 7763 (AVX2 + FMA (no AVX-512, no VNNI)), 2 usable CPUs"."""
    if machine is None:
        return "machine not recorded"
    cpus = len(machine.usable_cpus) if machine.usable_cpus else machine.logical_cpus
    return f"{machine.cpu_model or 'unknown CPU'} ({isa_summary(machine.isa_flags)}), {cpus} usable CPUs"


def table_rows(rows) -> list[dict]:
    out = []
    for r in sorted(rows, key=lambda r: (-(r.speedup or 0.0), r.engine)):
        out.append({
            "pareto": "*" if r.pareto else "", "variant": r.variant, "engine": r.engine, "precision": r.precision,
            "kernel": r.kernel, "p50_ms": round(r.p50_ms, 3) if r.p50_ms else None,
            "speedup": round(r.speedup, 2) if r.speedup else None,
            "speedup_ci95": f"{r.speedup_ci95[0]:.2f}-{r.speedup_ci95[1]:.2f}" if r.speedup_ci95 else None,
            "same_engine": round(r.speedup_same_engine, 2) if r.speedup_same_engine else None,
            "quality": round(r.quality, 4) if r.quality is not None else None,
            "quality_ci95": f"{r.quality_ci95[0]:.3f}-{r.quality_ci95[1]:.3f}" if r.quality_ci95 else None,
            "drop_points": round(r.quality_drop, 2) if r.quality_drop is not None else None,
            "chain": r.chain, "status": r.status,
        })
    return out


def write_frontier(rows, out: Path, *, title: str, threads: int, seq_len: int, machine=None, baseline=None,
                   plan: dict | None = None, preface: list[str] | None = None) -> dict[str, Path]:
    out = Path(out)
    metric = next((r.quality_metric for r in rows if r.quality is not None), "accuracy")
    what = "accuracy on SST-2 dev" if metric == "accuracy" else "top-1 agreement with the dense fp32 model"
    against = (f"the fastest dense fp32 engine, {baseline.engine} (p50 {baseline.p50_ms:.2f} ms)" if baseline
               else "the fastest dense fp32 engine")
    lines = [f"# {title}", "", f"Measured on {machine_line(machine)}.", "", *(preface or []),
             f"Speed-up: {against}, divided by the configuration (p50, samples pooled over the interleaved rounds, "
             f"bootstrap 95% interval); `same_engine`: against the same engine's dense fp32. Quality: {what}, measured "
             f"on the engine that was timed (Wilson 95% interval); `drop_points`: below the same engine's dense fp32. "
             f"`*` marks the Pareto front (no row is both faster and better). Threads {threads}, batch 1, sequence "
             f"{seq_len}.", "", format_markdown_table(table_rows(rows), COLUMNS), ""]
    paths = {"markdown": out / "frontier.md", "json": out / "frontier.json", "png": out / "frontier.png"}
    atomic_write_text(paths["markdown"], "\n".join(lines))
    document = {"schema_version": FRONTIER_SCHEMA_VERSION, "harness_version": __version__, "plan": plan or {},
                "machine": machine.to_json() if machine is not None else None,
                "isa": isa_summary(machine.isa_flags) if machine is not None else None,
                "baseline": dataclasses.asdict(baseline) | {"samples_ms": None} if baseline else None,
                "rows": [dataclasses.asdict(r) for r in rows]}
    atomic_write_text(paths["json"], json.dumps(document, indent=1, default=str) + "\n")
    write_plot(rows, what, paths["png"], f"{title}\n{machine_line(machine)}")
    return paths


def write_plot(rows, what: str, path: Path, title: str = "") -> Path:
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
    ax.set_xlabel("speed-up over the fastest dense fp32 engine (log)")
    ax.set_ylabel(what)
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_png(fig, path)
