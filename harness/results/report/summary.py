"""The short table printed after a bench, run or demo."""

from __future__ import annotations

import sys

from harness.contracts import RunRecord
from harness.foundation.tables import format_table

from .flat import flatten

SUMMARY_COLUMNS = ["model", "variant", "backend", "kernel", "precision", "threads", "batch", "seq", "status",
                   "p50_ms", "p50_ci", "p99_ms", "throughput_per_s", "roofline_pct", "note"]


def summary_rows(records: list[RunRecord]) -> list[dict]:
    rows = []
    for r in records:
        f = flatten(r)
        ci = f"[{f['p50_ci_low']:.2f}, {f['p50_ci_high']:.2f}]" if f["p50_ci_low"] is not None else None
        p99 = f["p99_ms"]
        rows.append({
            "model": f["model"], "variant": f["variant"], "backend": f["backend"], "kernel": f["kernel"],
            "precision": f["precision"], "threads": f["threads"], "batch": f["batch"], "seq": f["seq"],
            "status": f["status"], "p50_ms": f["p50_ms"], "p50_ci": ci,
            "p99_ms": p99 if p99 is not None else ("n/a" if "p99" in r.latency.unsupported else None),
            "throughput_per_s": f["throughput_per_s"],
            "roofline_pct": f["roofline_fraction"] * 100 if f["roofline_fraction"] else None,
            "note": (f["reason"] or "")[:60] if f["status"] != "ok" else None,
        })
    return rows


def print_summary(records: list[RunRecord], file=None) -> None:
    if not records:
        return
    out = file or sys.stdout
    print(format_table(summary_rows(records), SUMMARY_COLUMNS), file=out)
    if any("p99" in r.latency.unsupported for r in records if r.ok):
        print("p99 n/a: too few samples for a 95% interval on the 99th percentile (needs about 300)", file=out)
