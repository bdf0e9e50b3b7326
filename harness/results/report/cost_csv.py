"""The cost report as CSV for spreadsheets and pandas: the header is the first line, one row per report row.

COST_CSV_SCHEMA_VERSION history (cost.csv, a `schema_version` column on every row):
  1 - first version: the columns in CSV_COLUMNS after schema_version, under a `# schema_version: 1` first line.
  2 - the version moved from that comment line into the first column, so that the header is the first line
      (pandas.read_csv and spreadsheets read the file with no options); the other columns are unchanged.
  3 - backend_version renamed engine_version; quality columns appended (harness.results.cost.quality): accuracy,
      accuracy_drop (points below the dense fp32 baseline), top1_agreement, quality_source (engine, manifest,
      teacher, reference, none), quality_status (ok, budget exceeded, unknown), eligible (true/false: may be
      chosen), quality_task, quality_baseline, quality_note.
"""

from __future__ import annotations

import csv
import io

from ..cost.analysis import CostAnalysis

COST_CSV_SCHEMA_VERSION = 3
CSV_COLUMNS = (
    "schema_version", "model", "variant", "backend", "engine_version", "precision", "instance", "region",
    "purchase_option", "usd_per_hour", "price_source", "price_date", "vcpu_or_gpu", "batch", "seq_len",
    "throughput_per_s", "p50_ms", "p99_ms", "sla_met", "usd_per_million", "usd_per_month_at_target",
    "measured_or_reference", "accuracy", "accuracy_drop", "top1_agreement", "quality_source", "quality_status",
    "eligible", "quality_task", "quality_baseline", "quality_note",
)


def _csv_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


def csv_records(analysis: CostAnalysis) -> list[dict]:
    """The rows as {column: text}; an unknown SLA is "unknown", a missing number an empty cell (never a zero)."""
    out = []
    for r in analysis.rows:
        d = {c: getattr(r, c) for c in CSV_COLUMNS if c not in ("schema_version", "sla_met")}
        d["schema_version"] = COST_CSV_SCHEMA_VERSION
        d["sla_met"] = "unknown" if r.sla_met is None else r.sla_met
        out.append({c: _csv_value(d[c]) for c in CSV_COLUMNS})
    return out


def render_csv(analysis: CostAnalysis) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_records(analysis))
    return buf.getvalue()
