"""The cost report as CSV for spreadsheets and pandas: the header is the first line, one row per report row; a typed
contract (CostCsvRow) that reads every older version through explicit migrations.

COST_CSV_SCHEMA_VERSION history (cost.csv, a `schema_version` column on every row):
  1 - first version: the version-2 columns without schema_version, under a `# schema_version: 1` first line.
  2 - the version moved from that comment line into the first column, so that the header is the first line
      (pandas.read_csv and spreadsheets read the file with no options); the other columns are unchanged.
  3 - backend_version renamed engine_version; quality columns appended (harness.results.cost.quality): accuracy,
      accuracy_drop (points below the dense fp32 baseline), top1_agreement, quality_source (engine, manifest,
      teacher, reference, none), quality_status (ok, budget exceeded, unknown), eligible (true/false: may be
      chosen), quality_task, quality_baseline, quality_note.
  4 - quality_source may be `baseline` (the dense fp32 row itself, drop 0); appended: instances_at_target,
      sla_latency_ms and sla_percentile (what was compared with the SLA), reference_grade (published, derived),
      isa ("isa mismatch" when the measuring CPU's ISA differs from the priced instance's, "match", "unknown"),
      measured_isa, instance_isa, cpu_match (the type matching the measuring CPU), capacity_basis, citation.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import typing
from dataclasses import dataclass

from harness.contracts import Contract
from harness.foundation.errors import ConfigError
from harness.pricing.formats import migrate

from ..cost.analysis import CostAnalysis
from ..cost.rows import CostRow

COST_CSV_SCHEMA_VERSION = 4


@dataclass(frozen=True)
class CostCsvRow(Contract):
    """One row of cost.csv (version 4), typed; a missing number is None (an empty cell), never a zero."""

    schema_version: int
    model: str
    variant: str
    backend: str
    engine_version: str | None
    precision: str
    instance: str
    region: str
    purchase_option: str
    usd_per_hour: float | None
    price_source: str | None
    price_date: str | None
    vcpu_or_gpu: str | None
    batch: int | None
    seq_len: int | None
    throughput_per_s: float | None
    p50_ms: float | None
    p99_ms: float | None
    sla_met: bool | None  # None: "unknown"
    usd_per_million: float | None
    usd_per_month_at_target: float | None
    measured_or_reference: str
    accuracy: float | None = None
    accuracy_drop: float | None = None
    top1_agreement: float | None = None
    quality_source: str | None = None
    quality_status: str | None = None
    eligible: bool | None = None
    quality_task: str | None = None
    quality_baseline: str | None = None
    quality_note: str | None = None
    instances_at_target: int | None = None
    sla_latency_ms: float | None = None
    sla_percentile: str | None = None
    reference_grade: str | None = None
    isa: str | None = None
    measured_isa: str | None = None
    instance_isa: str | None = None
    cpu_match: str | None = None
    capacity_basis: str | None = None
    citation: str | None = None

    @classmethod
    def of(cls, r: CostRow) -> "CostCsvRow":
        own = ("schema_version", "eligible", "isa")
        values = {f.name: getattr(r, f.name) for f in dataclasses.fields(cls) if f.name not in own}
        isa = None if r.device == "gpu" else {True: "isa mismatch", False: "match", None: "unknown"}[r.isa_mismatch]
        return cls(**values, schema_version=COST_CSV_SCHEMA_VERSION, eligible=r.eligible, isa=isa)


CSV_COLUMNS = tuple(f.name for f in dataclasses.fields(CostCsvRow))
_V3_COLUMNS = CSV_COLUMNS[:CSV_COLUMNS.index("instances_at_target")]
_QUALITY_COLUMNS = _V3_COLUMNS[_V3_COLUMNS.index("accuracy"):]


def _to_3(row: dict) -> dict:
    out = {("engine_version" if k == "backend_version" else k): v for k, v in row.items()}
    return out | {c: "" for c in _QUALITY_COLUMNS if c not in out} | {"schema_version": "3"}


def _to_4(row: dict) -> dict:
    return row | {c: "" for c in CSV_COLUMNS if c not in row} | {"schema_version": "4"}


# MIGRATIONS[v]: one row (a dict of cells) of version v as version v+1; version 1 differs only in where the version
# is written (a comment line), which read_cost_csv handles
MIGRATIONS = {1: lambda row: row | {"schema_version": "2"}, 2: _to_3, 3: _to_4}


def _typed(tp, text: str, where: str):
    """A CSV cell as the field's type: '' is None; sla_met 'unknown' is None; booleans are true/false."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    base = args[0]
    if text == "" or (base is bool and text == "unknown"):
        return None
    try:
        if base is bool:
            return {"true": True, "false": False}[text]
        return base(text) if base in (int, float) else text
    except (KeyError, ValueError):
        raise ConfigError(f"{where}: {text!r} is not a {base.__name__}") from None


def read_cost_csv(text: str, name: str = "cost.csv") -> list[CostCsvRow]:
    """The rows of a cost.csv of any readable version, as version-4 CostCsvRows."""
    lines = text.splitlines()
    comment_version = None
    if lines and lines[0].startswith("#"):
        comment_version = int(lines[0].split(":", 1)[1])
        lines = lines[1:]
    hints = typing.get_type_hints(CostCsvRow)
    out = []
    for n, cells in enumerate(csv.DictReader(lines)):
        where = f"{name} row {n + 1}"
        version = comment_version if comment_version is not None else int(cells.get("schema_version") or 0)
        cells = migrate(dict(cells), version, COST_CSV_SCHEMA_VERSION, MIGRATIONS, where)
        typed = {c: _typed(hints[c], cells.get(c) or "", f"{where}: {c}") for c in CSV_COLUMNS}
        out.append(CostCsvRow.from_json(typed))
    return out


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
        d = {c: _csv_value(v) for c, v in CostCsvRow.of(r).to_json().items()}
        d["sla_met"] = "unknown" if r.sla_met is None else d["sla_met"]
        out.append(d)
    return out


def render_csv(analysis: CostAnalysis) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_records(analysis))
    return buf.getvalue()
