"""`harness regressions`: compare the latest run of each benchmark with the previous one, from raw samples.

A benchmark is one measurement identity on one machine, from the run records in results/runs: the
record's config_hash (BenchConfig.identity: fields at their default values are left out, so a field added
later with a default does not cut a benchmark's history in two), plus the machine id (CPU vendor, family,
model, stepping and ISA flags among what it hashes: harness.foundation.machine). Runs on different machine
ids are never compared; when the newest run's machine has no earlier runs, the report says so by name. The
latest commit is the commit of the newest record (or --commit); each benchmark run at that commit is
compared with its own previous commit (the newest other commit it was run at), or with --since REV for all
of them. All samples of all runs of a benchmark at one commit are pooled.

A change is flagged only when both hold:
  - the median ratio latest/baseline exceeds the threshold (default 1.10, i.e. 10% slower), and also
    exceeds the run-to-run spread seen between repeated runs of the same commit (max/min of their
    medians), so a machine's usual drift is not reported;
  - the two-sided Mann-Whitney U test rejects "same distribution" at alpha (default 0.01).
The mirror image (ratio below 1/threshold) is an improvement. Exit status 1 when there is a regression,
for CI gating.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness.contracts import RunRecord
from harness.foundation.errors import ConfigError, HarnessError
from harness.foundation.machine import cpu_label
from harness.foundation.stats import mann_whitney_p, ratio_with_spread
from harness.foundation.tables import format_table

DEFAULT_THRESHOLD = 1.10
DEFAULT_ALPHA = 0.01
MAX_BOOTSTRAP_SAMPLES = 2000  # each side is subsampled to this many for the bootstrap interval only
VERDICTS = ("regression", "improvement", "unchanged")


@dataclass(frozen=True)
class Comparison:
    """One benchmark: its baseline and latest samples, summarised, and the verdict."""

    config_hash: str
    machine_id: str
    model: str
    variant: str
    backend: str
    precision: str
    threads: int
    batch: int
    seq: int
    baseline_commit: str
    latest_commit: str
    baseline_p50_ms: float
    latest_p50_ms: float
    ratio: float  # median(latest) / median(baseline): > 1 is slower
    ratio_ci95: tuple[float, float]  # bootstrap interval of the ratio
    p_value: float  # two-sided Mann-Whitney U
    n_baseline: int
    n_latest: int
    runs_baseline: int
    runs_latest: int
    run_spread: float | None  # max/min of per-run medians among runs of one commit; None with one run each
    threshold: float  # the ratio a change had to exceed: max(--threshold, run_spread)
    verdict: str  # regression | improvement | unchanged

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Report:
    latest_commit: str | None
    since: str | None  # the baseline commit asked for, or None: each benchmark's previous commit
    threshold: float
    alpha: float
    comparisons: tuple[Comparison, ...]
    without_baseline: tuple[str, ...]  # benchmarks at the latest commit with nothing to compare against
    machine_note: str | None = None  # the newest run's machine has no history of its own (other machines' is not used)

    @property
    def regressions(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if c.verdict == "regression")

    @property
    def improvements(self) -> tuple[Comparison, ...]:
        return tuple(c for c in self.comparisons if c.verdict == "improvement")


def _commit_of(record: RunRecord) -> str:
    return str(record.git_commit or "unknown")


def _matches(commit: str, rev: str) -> bool:
    """A record's commit is `rev`: equal, or `rev` is a prefix (4+ characters) of its hash, with or without -dirty."""
    if commit == rev:
        return True
    if rev.endswith("-dirty") or len(rev) < 4:
        return False
    return commit.split("-")[0].startswith(rev)


def resolve_rev(rev: str, repo: str | Path | None = None) -> str:
    """The full hash of `rev` (a branch, tag, HEAD~1, ...) in `repo`, or `rev` itself when git cannot say."""
    try:
        out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=repo or Path.cwd(),
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return rev
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else rev


def _label(record: RunRecord) -> dict:
    cfg = record.config
    return {"model": cfg.model, "variant": record.variant_label, "backend": cfg.backend, "precision": record.precision,
            "threads": cfg.threads, "batch": cfg.batch_size, "seq": cfg.seq_len}


def _usable(record: RunRecord) -> bool:
    return record.ok and bool(record.samples_ms)


def _ratio_ci(latest: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    rng = np.random.default_rng(0)

    def cap(x):
        return rng.choice(x, MAX_BOOTSTRAP_SAMPLES, replace=False) if x.size > MAX_BOOTSTRAP_SAMPLES else x

    lo, hi = ratio_with_spread(cap(latest), cap(baseline), n_boot=1000)["ci95"]
    return (lo, hi)


def compare_runs(baseline_runs: list[list[float]], latest_runs: list[list[float]], *,
                 threshold: float = DEFAULT_THRESHOLD, alpha: float = DEFAULT_ALPHA) -> dict:
    """The numbers and verdict for one benchmark, from the samples of each run at each commit."""
    base = np.concatenate([np.asarray(r, dtype=np.float64) for r in baseline_runs])
    last = np.concatenate([np.asarray(r, dtype=np.float64) for r in latest_runs])
    ratio = float(np.median(last) / np.median(base))
    p = mann_whitney_p(last, base)
    spreads = []
    for runs in (baseline_runs, latest_runs):
        if len(runs) > 1:
            medians = [float(np.median(r)) for r in runs]
            spreads.append(max(medians) / min(medians))
    spread = max(spreads) if spreads else None
    bar = max(threshold, spread or 0.0)
    significant = not math.isnan(p) and p < alpha
    if significant and ratio > bar:
        verdict = "regression"
    elif significant and ratio < 1.0 / bar:
        verdict = "improvement"
    else:
        verdict = "unchanged"
    return {
        "baseline_p50_ms": float(np.median(base)), "latest_p50_ms": float(np.median(last)), "ratio": ratio,
        "ratio_ci95": _ratio_ci(last, base), "p_value": p, "n_baseline": int(base.size), "n_latest": int(last.size),
        "runs_baseline": len(baseline_runs), "runs_latest": len(latest_runs), "run_spread": spread,
        "threshold": bar, "verdict": verdict,
    }


def find_regressions(records: list[RunRecord], *, since: str | None = None, latest: str | None = None,
                     threshold: float = DEFAULT_THRESHOLD, alpha: float = DEFAULT_ALPHA) -> Report:
    """Compare every benchmark run at the latest commit with its baseline (see the module docstring)."""
    if not (isinstance(threshold, (int, float)) and threshold >= 1.0 and math.isfinite(threshold)):
        raise ConfigError(f"--threshold: expected a ratio >= 1.0 (1.10 = 10% slower), got {threshold!r}")
    if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
        raise ConfigError(f"--alpha: expected a probability between 0 and 1, got {alpha!r}")
    usable = [r for r in records if _usable(r)]
    if not usable:
        return Report(None, since, threshold, alpha, (), ())
    if latest:
        at_latest = [r for r in usable if _matches(_commit_of(r), latest)]
        if not at_latest:
            raise HarnessError(f"--commit {latest}: no successful run records at that commit; recorded: {_known(usable)}")
        latest_commit = _commit_of(max(at_latest, key=lambda r: r.created_at or ""))
    else:
        latest_commit = _commit_of(max(usable, key=lambda r: r.created_at or ""))
    if since:
        if not any(_matches(_commit_of(r), since) for r in usable):
            raise HarnessError(f"--since {since}: no successful run records at that commit; recorded: {_known(usable)}")
        if _matches(latest_commit, since):
            raise HarnessError(f"--since {since} is the latest commit itself; name an earlier one")

    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in usable:  # a benchmark: one measurement identity (config_hash) on one machine
        groups.setdefault((r.config_hash, r.machine.id), []).append(r)

    comparisons, without = [], []
    for (_key, machine_id), recs in groups.items():
        now = [r for r in recs if _commit_of(r) == latest_commit]
        if not now:
            continue
        if since:
            before = [r for r in recs if _matches(_commit_of(r), since)]
        else:
            older = [r for r in recs if _commit_of(r) != latest_commit]
            newest = max(older, key=lambda r: r.created_at or "") if older else None
            before = [r for r in older if _commit_of(r) == _commit_of(newest)] if newest else []
        label = _label(now[0])
        if not before:
            without.append(f"{label['model']}[{label['variant']}] {label['backend']} t{label['threads']} b{label['batch']} s{label['seq']}")
            continue
        nums = compare_runs([list(r.samples_ms) for r in before], [list(r.samples_ms) for r in now],
                            threshold=threshold, alpha=alpha)
        comparisons.append(Comparison(config_hash=now[-1].config_hash, machine_id=machine_id, **label,
                                      baseline_commit=_commit_of(before[0]), latest_commit=latest_commit, **nums))
    order = {v: i for i, v in enumerate(VERDICTS)}
    comparisons.sort(key=lambda c: (order[c.verdict], -c.ratio if c.verdict != "improvement" else c.ratio))
    return Report(latest_commit, since, threshold, alpha, tuple(comparisons), tuple(sorted(without)),
                  _machine_note(usable, latest_commit, comparisons))


def _machine_note(usable: list[RunRecord], latest_commit: str, comparisons: list[Comparison]) -> str | None:
    """A line when the machine of the newest run at the latest commit has no earlier run of its own."""
    newest = max((r for r in usable if _commit_of(r) == latest_commit), key=lambda r: r.created_at or "")
    mid = newest.machine.id
    if any(c.machine_id == mid for c in comparisons):
        return None
    earlier = [r for r in usable if r.machine.id == mid and _commit_of(r) != latest_commit]
    if earlier:
        return None
    others = sorted({r.machine.id for r in usable if r.machine.id != mid})
    where = (f"; runs of {len(others)} other machine(s) ({', '.join(others[:3])}{' ...' if len(others) > 3 else ''}) "
             "are not compared with it") if others else ""
    return (f"the newest run's machine {mid} ({cpu_label(newest.machine)}) has no earlier runs: nothing of it is "
            f"compared{where}")


def _known(records: list[RunRecord]) -> str:
    commits = sorted({_commit_of(r)[:12] for r in records})
    return ", ".join(commits[:8]) + (" ..." if len(commits) > 8 else "")


TABLE_COLUMNS = ["verdict", "model", "variant", "backend", "threads", "batch", "seq", "baseline", "latest",
                 "base_p50_ms", "p50_ms", "ratio", "ratio_ci95", "p_value", "threshold", "n"]


def table_rows(comparisons) -> list[dict]:
    return [{
        "verdict": c.verdict.upper() if c.verdict == "regression" else c.verdict,
        "model": c.model, "variant": c.variant, "backend": c.backend, "threads": c.threads, "batch": c.batch, "seq": c.seq,
        "baseline": c.baseline_commit[:10], "latest": c.latest_commit[:10],
        "base_p50_ms": c.baseline_p50_ms, "p50_ms": c.latest_p50_ms, "ratio": round(c.ratio, 3),
        "ratio_ci95": f"[{c.ratio_ci95[0]:.3f}, {c.ratio_ci95[1]:.3f}]",
        "p_value": f"{c.p_value:.2g}" if not math.isnan(c.p_value) else "n/a",
        "threshold": round(c.threshold, 3), "n": f"{c.n_baseline}/{c.n_latest}",
    } for c in comparisons]


def render(report: Report, *, show_all: bool = False) -> str:
    """The text `harness regressions` prints: a headline, and a table of what changed (or of everything)."""
    if report.latest_commit is None:
        return "harness regressions: no successful run records yet; nothing to compare"
    against = f"commit {report.since}" if report.since else "each benchmark's previous commit"
    n, r, i = len(report.comparisons), len(report.regressions), len(report.improvements)
    lines = [f"harness regressions: latest {report.latest_commit[:12]} vs {against}: {n} compared, "
             f"{r} regression(s), {i} improvement(s), {n - r - i} within threshold "
             f"(ratio > {report.threshold:.2f} and run-to-run spread, Mann-Whitney p < {report.alpha:g})"]
    shown = report.comparisons if show_all else report.regressions + report.improvements
    if shown:
        lines.append(format_table(table_rows(shown), TABLE_COLUMNS))
    if report.machine_note:
        lines.append(report.machine_note)
    if report.without_baseline:
        lines.append(f"{len(report.without_baseline)} benchmark(s) at the latest commit have no earlier run to compare with")
    return "\n".join(lines)
