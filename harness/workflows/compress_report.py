"""compress.json and the frontier files of a `harness compress` run: the candidates (speed-up against the fastest dense
fp32 engine, the same engine's ratio, accuracy and its drop, the held-back drop of the pruning, where each one's time
went), the chosen one, what was skipped and why.

COMPRESS_SCHEMA_VERSION history: 1 - first version (the schema is in harness.workflows.compress's docstring).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone

from harness import __version__
from harness.foundation.fsutil import atomic_write_text
from harness.results.report.frontier import isa_summary, write_frontier

from .frontier import fastest_dense, frontier_rows

COMPRESS_SCHEMA_VERSION = 1
COMPRESS_KIND = "harness-compress"


def table(records):
    """The frontier's rows of the records so far (harness.workflows.frontier)."""
    return frontier_rows(records) if records else []


def chosen(run, rows) -> dict | None:
    """The fastest candidate within the quality budget (the fastest dense fp32 engine when none is)."""
    base = fastest_dense(run.search_records())
    if base is None:
        return None
    ok = [r for r in rows if r.status == "ok" and r.speedup and r.quality_drop is not None
          and r.quality_drop <= run.plan.max_quality_drop + 1e-9]
    dense_best = next((r for r in rows if r.variant == "dense" and r.engine == base.engine and r.precision == "fp32"), None)
    best = max(ok, key=lambda r: r.speedup, default=dense_best)
    if best is None:
        return None
    out = describe(run, best) | {"speedup_search": _round(best.speedup, 4), "speedup_from": "search"}
    confirmed = [r for r in run.records if r.config.task is None]  # the confirming round: timed back to back
    again = next((r for r in table(confirmed) if (r.variant, r.engine, r.precision) == (best.variant, best.engine,
                                                                                          best.precision)), None)
    if again is not None and again.speedup is not None:
        out |= {"speedup": _round(again.speedup, 4), "speedup_ci95": [_round(x, 4) for x in again.speedup_ci95],
                "speedup_same_engine": _round(again.speedup_same_engine, 4), "p50_ms": _round(again.p50_ms, 4),
                "speedup_from": "confirming round"}
    return out


def describe(run, row) -> dict:
    """One candidate as compress.json states it, with the bench command that measures it again."""
    variant = run.variants.get(row.variant)
    config_drop = next((r.config.settings.int8_max_drop for r in run.records
                        if r.variant_label == row.variant and r.config.backend == row.engine
                        and r.config.precision == row.precision), None)
    bench = (f"harness bench --checkpoint {run.plan.checkpoint}" + (f" --variant {variant['dir']}" if variant else "")
             + f" --backend {row.engine} --precision {row.precision} --threads {run.plan.threads} --seq "
             f"{run.plan.seq_len} --task {run.plan.task} --data {run.plan.data_dir}"
             + (f" --int8-max-drop {config_drop:g}" if row.precision == "int8" and config_drop is not None else ""))
    return {"variant": row.variant, "variant_dir": variant["dir"] if variant else None, "backend": row.engine,
            "precision": row.precision, "speedup": _round(row.speedup, 4),
            "speedup_ci95": [_round(x, 4) for x in row.speedup_ci95] if row.speedup_ci95 else None,
            "speedup_same_engine": _round(row.speedup_same_engine, 4), "p50_ms": _round(row.p50_ms, 4),
            "accuracy": row.quality, "accuracy_drop": row.quality_drop, "chain": row.chain,
            "int8_max_drop": config_drop if row.precision == "int8" else None, "bench": bench}


def candidates(run, rows) -> list[dict]:
    out = []
    for row in sorted(rows, key=lambda r: -(r.speedup or 0.0)):
        recs = [r for r in run.records if r.variant_label == row.variant and r.config.backend == row.engine
                and r.config.precision == row.precision]
        newest = next((r for r in reversed(recs) if r.config.task is not None), recs[-1] if recs else None)
        phases = newest.phases.to_json() if newest is not None and newest.phases else {}
        phases = {k: v for k, v in phases.items() if v is not None}
        if newest is not None and newest.record_id in run.write_s:
            phases["write_s"] = run.write_s[newest.record_id]
        variant = run.variants.get(row.variant)
        out.append(describe(run, row) | {
            "status": row.status, "pareto": row.pareto, "heldout_drop": variant["heldout_drop"] if variant else None,
            "reason": newest.reason if newest is not None and not newest.ok else None, "phases_s": phases,
            "record_ids": [r.record_id for r in recs]})
    return out


def write(run) -> dict:
    """compress.json and the frontier files of the run so far; returns the document."""
    rows = run.rows()
    base = fastest_dense(run.search_records())
    dense_row = next((r for r in rows if base and r.variant == "dense" and r.engine == base.engine
                      and r.precision == "fp32"), None)
    plan = {k: v for k, v in dataclasses.asdict(run.plan).items() if k != "settings"}
    document = {
        "schema_version": COMPRESS_SCHEMA_VERSION, "kind": COMPRESS_KIND, "harness_version": __version__,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "plan": plan,
        "machine": {"id": run.machine["id"], "cpu_model": run.machine.get("cpu_model"),
                    "isa": isa_summary(run.machine.get("isa_flags")), "isa_flags": run.machine.get("isa_flags")},
        "status": run.status, "elapsed_s": round(run.clock.elapsed, 1), "budget_s": run.plan.budget_s,
        "baseline": {"engine": base.engine, "p50_ms": round(base.p50_ms, 4),
                     "accuracy": dense_row.quality if dense_row else None} if base else None,
        "candidates": candidates(run, rows), "chosen": chosen(run, rows), "skipped": run.skipped,
        "variants": {n: {"dir": v["dir"], "heldout_drop": v["heldout_drop"],
                         "flops_fraction": v["manifest"].post_training["cost_fraction"],
                         "wall_time_s": v["manifest"].wall_time_s,
                         "peak_rss_bytes": v["manifest"].peak_rss_bytes} for n, v in run.variants.items()},
        "timings_s": {k: round(sum(v), 1) for k, v in run.clock.spent.items()},
    }
    atomic_write_text(run.out / "compress.json", json.dumps(document, indent=1) + "\n")
    if rows:
        machine = run.records[-1].machine
        write_frontier(rows, run.out, title=f"Compressing {run.model}: candidates", threads=run.plan.threads,
                       seq_len=run.plan.seq_len, machine=machine, baseline=base, plan=plan,
                       preface=[f"Budget: {run.plan.max_quality_drop:g} accuracy points, "
                                f"{run.plan.budget_minutes:g} minutes; status: {run.status}.", ""])
    return document


def _round(x, digits):
    return round(x, digits) if isinstance(x, (int, float)) else None
