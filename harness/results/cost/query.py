"""The question a cost report answers, as one frozen record that commands build once and the analysis and the
reports read: the SLA, the target rate, the region, the quality budget, which prices, which instance types and
models, and how far to look. Validated on construction: a bad value is one ConfigError line naming the flag.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from harness.foundation.errors import ConfigError, choices_error
from harness.pricing import PURCHASE_OPTIONS, validate_region

from .arithmetic import is_positive
from .quality import QualityGate

MIN_SEARCH_QPS = 10_000.0  # break-even rates are searched up to max(100 x the target rate, this)


@dataclass(frozen=True)
class CostQuery:
    """What to price and how to judge it (defaults are the CLI's defaults)."""

    sla_ms: float = 100.0  # p99 latency bound per request
    qps: float = 50.0  # target request rate the fleets are sized for
    region: str = "us-east-2"
    purchase_options: tuple[str, ...] = ("on-demand",)
    max_quality_drop: float = 1.0  # accuracy points a row may lose against its dense fp32 baseline
    allow_unknown_quality: bool = False  # rows of unknown quality may be chosen (labelled)
    gpu_reference: bool = True  # published (or derived) GPU figures where no GPU record exists
    project_to: tuple[str, ...] = ()  # CPU types to estimate from measured CPU rows (labelled estimates)
    instances: tuple[str, ...] | None = None  # only these instance types (asked-for types without a record shown)
    models: tuple[str, ...] | None = None  # only these models
    reference_workloads: tuple[tuple[str, int], ...] | None = None  # (model, seq_len) for GPU rows; default: records'
    within_qps: float | None = None  # how far break-even rates are searched
    prices_csv: str | None = None  # a user price CSV layered over the snapshots
    snapshot_dir: str | None = "results/prices"  # user price snapshots (None: the bundled one only)

    def __post_init__(self):
        if not is_positive(self.sla_ms):
            raise ConfigError(f"--sla-ms: {self.sla_ms!r}; valid: a number of milliseconds > 0")
        if not is_positive(self.qps):
            raise ConfigError(f"--qps: {self.qps!r}; valid: a request rate > 0")
        validate_region(self.region, "--region")
        for opt in self.purchase_options:
            if opt not in PURCHASE_OPTIONS:
                raise choices_error("purchase option", opt, PURCHASE_OPTIONS)
        drop = self.max_quality_drop
        if isinstance(drop, bool) or not (is_positive(drop) or drop == 0):
            raise ConfigError(f"--max-quality-drop: {drop!r}; valid: a number of accuracy points >= 0")
        if self.within_qps is not None and not is_positive(self.within_qps):
            raise ConfigError(f"within_qps: {self.within_qps!r}; valid: a request rate > 0")
        for name in ("purchase_options", "project_to", "instances", "models", "reference_workloads"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if not self.purchase_options:
            raise ConfigError(f"--purchase-option: none given; valid choices: {', '.join(PURCHASE_OPTIONS)}")

    @property
    def gate(self) -> QualityGate:
        return QualityGate(max_drop_points=float(self.max_quality_drop), allow_unknown=bool(self.allow_unknown_quality))

    @property
    def search_qps(self) -> float:
        return float(self.within_qps or max(100.0 * self.qps, MIN_SEARCH_QPS))

    def replace(self, **changes) -> "CostQuery":
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        return (f"Region {self.region}; SLA p99 <= {self.sla_ms:g} ms; target {self.qps:g} requests/s; purchase "
                f"options: {', '.join(self.purchase_options)}; quality: {self.gate.describe()}.")


DEFAULT_QUERY = CostQuery()


def _from_query(name: str) -> property:
    return property(lambda self: getattr(self.query, name), doc=f"CostQuery.{name} of the record's query")


class QueryTerms:
    """Mixin for records that carry a `query`: its terms read as the record's own (analysis.sla_ms, terms.gate)."""

    query: CostQuery

    sla_ms = _from_query("sla_ms")
    qps = _from_query("qps")
    region = _from_query("region")
    purchase_options = _from_query("purchase_options")
    gate = _from_query("gate")
    within_qps = _from_query("search_qps")
