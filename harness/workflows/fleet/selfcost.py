"""What the fleet run itself cost: instance hours per instance type, priced from the price book.

Two ways to know how long each machine ran, both lower bounds of what was billed:
  batch    each child job's startedAt..stoppedAt from AWS Batch (`fleet collect --plan DIR` after
           `fleet submit`): the container's whole life, including model building and the push;
  records  per machine (record machine.id), from its first to its last record's created_at, split
           where two records are more than SESSION_GAP_S apart (another night, another run).
Every span is billed at least MIN_BILLED_S (EC2 bills Linux per second with a one-minute minimum).
Neither counts instance boot or the compute environment's scale-down delay, which docs/fleet.md covers.

FLEET_COST_SCHEMA_VERSION history (fleet-cost.csv, a `schema_version` column on every row):
  1 - first version: the columns in CSV_COLUMNS.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import RunRecord
from harness.foundation.fsutil import atomic_write_text
from harness.foundation.tables import format_markdown_table

FLEET_COST_SCHEMA_VERSION = 1
SESSION_GAP_S = 3600.0
MIN_BILLED_S = 60.0
CSV_COLUMNS = ("schema_version", "instance_type", "basis", "machines", "records", "instance_hours", "region",
               "purchase_option", "usd_per_hour", "usd", "price_source", "price_date")


@dataclass(frozen=True)
class Span:
    """One machine's (or one child job's) time on one instance type."""

    instance_type: str | None
    machine: str
    start: float  # epoch seconds
    stop: float
    records: int
    basis: str  # "records" | "batch"

    @property
    def billed_hours(self) -> float:
        return max(self.stop - self.start, MIN_BILLED_S) / 3600.0


def record_usage_fields(record: RunRecord) -> tuple[float | None, str | None, str]:
    """(created_at as epoch seconds, instance type, machine id): the one place the fleet reads a run record."""
    try:
        when = _dt.datetime.fromisoformat(str(record.created_at)).timestamp()
    except ValueError:
        when = None
    return when, record.instance_type, record.machine.id


def spans_from_records(records: list[RunRecord], gap_s: float = SESSION_GAP_S) -> list[Span]:
    """Per (instance type, machine), runs of records with no gap above `gap_s`."""
    times: dict[tuple, list[float]] = {}
    for record in records:
        when, instance, machine = record_usage_fields(record)
        if when is not None:
            times.setdefault((instance, machine), []).append(when)
    spans = []
    for (instance, machine), stamps in sorted(times.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        stamps.sort()
        first = prev = stamps[0]
        count = 0
        for t in stamps:
            if t - prev > gap_s:
                spans.append(Span(instance, machine, first, prev, count, "records"))
                first, count = t, 0
            prev, count = t, count + 1
        spans.append(Span(instance, machine, first, prev, count, "records"))
    return spans


def spans_from_batch(children: list[tuple[str, str, float, float]]) -> list[Span]:
    """From submit.child_times: (instance type, child job id, started, stopped)."""
    return [Span(instance, job_id, start, stop, 0, "batch") for instance, job_id, start, stop in children]


def price_spans(spans: list[Span], book, region: str, purchase_option: str = "on-demand") -> list[dict]:
    """One row per instance type (records without one are a row of their own, unpriced)."""
    rows = []
    for instance in sorted({s.instance_type for s in spans}, key=lambda x: (x is None, str(x))):
        mine = [s for s in spans if s.instance_type == instance]
        hours = sum(s.billed_hours for s in mine)
        quote = book.get(instance, region, purchase_option) if instance else None
        rows.append({
            "schema_version": FLEET_COST_SCHEMA_VERSION, "instance_type": instance or "(undeclared)",
            "basis": mine[0].basis, "machines": len({s.machine for s in mine}), "records": sum(s.records for s in mine),
            "instance_hours": round(hours, 4), "region": region, "purchase_option": purchase_option,
            "usd_per_hour": quote.usd_per_hour if quote else None,
            "usd": round(hours * quote.usd_per_hour, 4) if quote else None,
            "price_source": quote.source if quote else _why_unpriced(instance, region),
            "price_date": quote.as_of if quote else None,
        })
    return rows


def _why_unpriced(instance: str | None, region: str) -> str:
    return f"no price in {region}" if instance else "no instance type on these records"


def write_self_cost(rows: list[dict], out_dir) -> dict[str, Path]:
    """OUT/fleet-cost.md and OUT/fleet-cost.csv (header first, schema_version a column)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"fleet_cost_markdown": out / "fleet-cost.md", "fleet_cost_csv": out / "fleet-cost.csv"}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_COLUMNS})
    atomic_write_text(paths["fleet_cost_csv"], buf.getvalue())
    atomic_write_text(paths["fleet_cost_markdown"], render_markdown(rows))
    return paths


def render_markdown(rows: list[dict]) -> str:
    total = sum(r["usd"] for r in rows if r["usd"] is not None)
    unpriced = [r["instance_type"] for r in rows if r["usd"] is None]
    lines = ["# What this fleet run cost", "",
             f"Total: **${total:.2f}** for {sum(r['instance_hours'] for r in rows):.2f} instance hours"
             + (f" (not priced: {', '.join(unpriced)})" if unpriced else "") + ".", "",
             format_markdown_table([{
                 "instance type": r["instance_type"], "basis": r["basis"], "machines": r["machines"],
                 "records": r["records"], "instance hours": f"{r['instance_hours']:.4f}",
                 "$/hour": f"{r['usd_per_hour']:g}" if r["usd_per_hour"] is not None else "-",
                 "$": f"{r['usd']:.4f}" if r["usd"] is not None else "-",
                 "price source (date)": f"{r['price_source']} ({r['price_date']})" if r["price_date"] else r["price_source"],
             } for r in rows])]
    basis = "AWS Batch child job start to stop" if rows and rows[0]["basis"] == "batch" else "first to last record per machine"
    lines += ["", f"Hours are lower bounds: {basis}, at least {MIN_BILLED_S:g} s each; instance boot and scale-down "
              "are not counted (docs/fleet.md).", ""]
    return "\n".join(lines)
