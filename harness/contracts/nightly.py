"""The nightly suites' bookkeeping: what `setup_cache` measured, handed to asv's track benchmarks.

asv calls the suites' shared setup_cache once (harness.workflows.nightly.measure.measure_for_asv), pickles what it
returns and gives it to every track_ benchmark in other processes; each reads one number (asv_value).

Version history (AsvCache):
  1 - a dict: schema_version, suite, commit, region, results {(model, variant, backend, threads, batch): summary},
      a summary being {status, reason, record_id, config_hash, why, p50_ms, ...} or {status, reason, why}.
  2 - results is a list of AsvResult rows, the key's parts as fields beside a typed AsvSummary (migration
      _key_rows); the numbers and their meaning are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codec import Contract, RecordError, Versioned

KEY_FIELDS = ("model", "variant", "backend", "threads", "batch")  # the suites' asv parameters, in order


@dataclass(frozen=True)
class AsvSummary(Contract):
    """The numbers the track_ benchmarks report for one configuration, and why each missing one is missing."""

    status: str  # a record status, or "unavailable" (the backend cannot run here: asv shows n/a)
    reason: str | None = None
    record_id: str | None = None
    config_hash: str | None = None
    why: dict[str, str] = field(default_factory=dict)  # metric -> why it has no value
    p50_ms: float | None = None
    p99_ms: float | None = None
    throughput_per_s: float | None = None
    artifact_mb: float | None = None
    top1_agreement: float | None = None
    instance_type: str | None = None
    region: str | None = None
    usd_per_hour: float | None = None
    usd_per_million: float | None = None
    price_source: str | None = None


@dataclass(frozen=True)
class AsvResult(Contract):
    model: str
    variant: str
    backend: str
    threads: int
    batch: int
    summary: AsvSummary

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, f) for f in KEY_FIELDS)


def _key_rows(data: dict) -> dict:
    results = data.get("results")
    if not isinstance(results, dict):
        raise RecordError(f"results: expected a mapping of parameter tuples, got {type(results).__name__}")
    rows = []
    for key, summary in results.items():
        if not isinstance(key, tuple) or len(key) != len(KEY_FIELDS):
            raise RecordError(f"results: expected ({', '.join(KEY_FIELDS)}) keys, got {key!r}")
        rows.append({**dict(zip(KEY_FIELDS, key)), "summary": summary})
    return {**data, "results": rows}


@dataclass(frozen=True)
class AsvCache(Versioned):
    SCHEMA_VERSION = 2
    MIGRATIONS = {1: _key_rows}

    suite: str
    results: tuple[AsvResult, ...] = ()
    commit: str | None = None
    region: str | None = None
    schema_version: int = SCHEMA_VERSION

    def summary(self, key) -> AsvSummary | None:
        key = tuple(key)
        return next((r.summary for r in self.results if r.key == key), None)
