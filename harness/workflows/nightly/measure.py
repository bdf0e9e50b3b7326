"""Measuring a suite for asv: run every configuration once, keep the records, summarise what the tracks report.

asv calls `measure_for_asv()` once, in the suites' shared `setup_cache`: it makes the pruned variants,
runs the suite's configurations through harness.measure.bench.run_configs (one pinned worker per configuration,
records appended to results/runs like any `harness bench`) and returns the cache asv pickles for the
track benchmarks (harness.contracts.AsvCache, with its version history). Each track then reads one number
with `asv_value()`.

Environment read here (set by `harness nightly`):
  HARNESS_NIGHTLY_COMMIT      the commit the records are filed under (default: this checkout's)
  HARNESS_RESULTS_DIR         where records go (default: results/ beside asv.conf.json)
  and the suite's (harness.workflows.nightly.suites.selected_suite).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from harness.backends.registry import backend_class
from harness.contracts import AsvCache, AsvResult, AsvSummary, BenchConfig, RecordError, RunRecord
from harness.foundation.errors import HarnessError
from harness.foundation.machine import git_commit
from harness.foundation.paths import REPO_ROOT
from harness.foundation.stats import PERCENTILES, percentile_interval
from harness.pricing import load_price_book

from .suites import Suite, selected_suite
from .variants import ensure_variant

CONFIDENCE = 0.95  # of the percentile intervals (harness.foundation.stats.summarize's default)


@functools.lru_cache(maxsize=None)
def min_samples(percentile: str) -> int:
    """The fewest samples for which harness.foundation.stats reports `percentile` ("p99") with a 95% interval."""
    import numpy as np


    def supported(n: int) -> bool:
        return percentile_interval(np.arange(n, dtype=np.float64), PERCENTILES[percentile], CONFIDENCE) is not None

    lo, hi = 1, 2
    while not supported(hi):  # both rank conditions only get easier with more samples: bisect
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if supported(mid) else (mid + 1, hi)
    return lo


def backend_unavailable(name: str) -> str | None:
    """Why the backend cannot run in this environment, or None when it can (or only a run can tell)."""
    try:
        cls = backend_class(name)
    except (ImportError, AttributeError) as exc:
        return f"backend {name!r} is not installed here ({type(exc).__name__}: {exc})"
    if cls.interpreter:  # its engine lives in another environment; a missing one is a skip
        if not (REPO_ROOT / cls.interpreter).exists():
            return f"backend {name!r} runs under {cls.interpreter}, which does not exist (make {name}-env)"
        return None
    try:
        version = cls.available()
    except Exception as exc:  # noqa: BLE001 - any import failure of an optional engine means "not here"
        return f"backend {name!r} cannot be imported ({type(exc).__name__}: {exc})"
    return None if version else f"backend {name!r} is not installed in this environment"


def results_root(environ=None) -> Path:
    """Where the suites append run records: $HARNESS_RESULTS_DIR, else results/ beside asv.conf.json."""
    env = os.environ if environ is None else environ
    if env.get("HARNESS_RESULTS_DIR"):
        return Path(env["HARNESS_RESULTS_DIR"])
    return Path(env.get("ASV_CONF_DIR") or REPO_ROOT) / "results"


def record_commit(environ=None) -> str | None:
    env = os.environ if environ is None else environ
    if env.get("HARNESS_NIGHTLY_COMMIT"):
        return env["HARNESS_NIGHTLY_COMMIT"]

    return git_commit()


def price_book(root: Path):
    """The price book in force for results under `root` (bundled snapshot < root/prices snapshots)."""
    return load_price_book(snapshot_dir=str(Path(root) / "prices"))


def _cost(record: RunRecord, book, region: str) -> tuple[dict, str | None]:
    """(the price numbers, or why there is no $/1M) for one successful record."""
    instance, tput = record.instance_type, record.metrics.throughput_per_s
    out = {"instance_type": instance, "region": region, "usd_per_hour": None, "usd_per_million": None}
    if not instance:
        return out, "no instance type declared (harness nightly --instance-type T)"
    quote = book.get(instance, region) if book is not None else None
    if quote is None:
        return out, f"no on-demand price for {instance} in {region} in the price book"
    if not tput:
        return out, "no throughput measured"
    out.update(usd_per_hour=quote.usd_per_hour, price_source=f"{quote.source} (as of {quote.as_of})",
               usd_per_million=quote.usd_per_hour / (tput * 3600.0) * 1e6)
    return out, None


def asv_summary(record: RunRecord, book, region: str) -> dict:
    """The numbers the track_ benchmarks report for one run record, with the reason for each missing one.

    usd_per_million = usd_per_hour / (throughput_per_s * 3600) * 1e6, with the on-demand price of the
    instance type the record declares (machine.instance_type) in `region`. Quality is the variant's top-1
    agreement with the dense model (record.quality: the engine's when measured, else the variant manifest's);
    the dense model agrees with itself: 1.0.
    """
    out = {"status": record.status, "reason": record.reason, "record_id": record.record_id,
           "config_hash": record.config_hash, "why": {}}
    if not record.ok:
        return out
    lat, why = record.latency, out["why"]
    for name in ("p50", "p99"):
        out[f"{name}_ms"] = lat.percentile(name)
        if out[f"{name}_ms"] is None:
            why[f"{name}_ms"] = (f"{name} unsupported: {lat.n} samples are too few for a 95% interval "
                                 f"({min_samples(name)} needed)")
    out["throughput_per_s"] = record.metrics.throughput_per_s
    size = record.metrics.artifact_bytes
    out["artifact_mb"] = size / 1e6 if size else None
    if not size:
        why["artifact_mb"] = "the record has no artifact_bytes"
    if record.config.variant:
        quality = record.quality
        out["top1_agreement"] = quality.top1_agreement if quality else None
    else:
        out["top1_agreement"] = 1.0  # the dense model agrees with itself
    if out["top1_agreement"] is None:
        why["top1_agreement"] = "the variant's manifest has no quality.pruned.top1_agreement"
    cost, why_not = _cost(record, book, region)
    out.update(cost)
    if why_not:
        why["usd_per_million"] = why_not
    return out


def _variant_path(model: str, spec: str) -> tuple[str | None, str | None]:
    """(the variant's directory, None) or (None, why it could not be made); None, None for "dense"."""
    if spec == "dense":
        return None, None
    try:
        return str(ensure_variant(model, spec)), None
    except Exception as exc:  # noqa: BLE001 - the other configurations still run; this one fails with the reason
        reason = str(exc) if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
        return None, f"variant {spec} of {model}: {reason}"


def suite_configs(suite: Suite) -> tuple[dict, dict]:
    """({key: BenchConfig} to run, {key: entry} for combinations that cannot run, with the reason)."""
    unavailable = {b: backend_unavailable(b) for b in suite.backends}
    variants: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    configs, entries = {}, {}
    for key in suite.keys():
        model, variant, backend, threads, batch = key
        if unavailable[backend]:
            entries[key] = {"status": "unavailable", "reason": unavailable[backend], "why": {}}
            continue
        if (model, variant) not in variants:  # made at most once, and only when a backend can use it
            variants[(model, variant)] = _variant_path(model, variant)
        path, failure = variants[(model, variant)]
        if failure:
            entries[key] = {"status": "error", "reason": failure, "why": {}}
            continue
        configs[key] = BenchConfig(model=model, backend=backend, batch_size=batch, seq_len=suite.seq_for(model),
                                   threads=threads, variant=path, instance_type=suite.instance_type,
                                   settings=suite.settings)
    return configs, entries


def measure_suite(suite: Suite, *, root: Path, commit: str | None, echo: bool = True) -> AsvCache:
    """Run every configuration of `suite` once, append its record under `root`, return the asv cache."""
    from harness.measure.bench import run_configs

    configs, entries = suite_configs(suite)
    records = run_configs(list(configs.values()), root=root, commit=commit, progress=False,
                          echo=None if echo else False)
    book = price_book(root)
    for key, record in zip(configs, records, strict=True):
        entries[key] = asv_summary(record, book, suite.region)
        if record.status == "unsupported":  # the engine cannot run this configuration here: n/a, not a failure
            entries[key]["status"] = "unavailable"
    results = tuple(AsvResult(*key, summary=AsvSummary.from_json(entries[key], str(key))) for key in suite.keys())
    return AsvCache(suite=suite.name, commit=commit, region=suite.region, results=results)


def measure_for_asv() -> AsvCache:
    """asv setup_cache: measure the selected suite for the commit named by the environment."""
    return measure_suite(selected_suite(), root=results_root(), commit=record_commit())


def asv_value(cache, key: tuple, metric: str) -> float:
    """One tracked number for one parameter combination.

    Raises NotImplementedError (asv: skipped, n/a) when the backend is not installed or the metric cannot
    exist for this run (p99 with too few samples, $/1M without an instance type), and RuntimeError
    (asv: failed) when the configuration ran and failed. `cache` is an AsvCache, or one in its JSON form
    of any readable version.
    """
    if not isinstance(cache, AsvCache):
        try:
            cache = AsvCache.from_json(cache, "asv cache")
        except RecordError as exc:
            raise RuntimeError(str(exc)) from None
    entry = cache.summary(key)
    if entry is None:
        raise NotImplementedError(f"{key} is not part of suite {cache.suite!r}")
    if entry.status == "unavailable":
        raise NotImplementedError(entry.reason or "backend not available")
    if entry.status != "ok":
        raise RuntimeError(f"{entry.status}: {entry.reason}")
    value = getattr(entry, metric)
    if value is None:
        raise NotImplementedError(entry.why.get(metric) or f"{metric} was not measured")
    return float(value)
