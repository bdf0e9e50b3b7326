"""Sparsity sweeps: where does a sparse kernel start to win, per backend?

A sweep makes one-shot magnitude-pruned variants of a model at several unstructured sparsities, runs
every (sparsity, backend, kernel) configuration interleaved (round-robin, `repeats` times) through the
ordinary runner, and summarises the records into a table of median latency per sparsity per backend/kernel,
with each cell's speedup over that backend's dense model and the crossover sparsity.

    spec = SweepSpec(model="bert-base", sparsities=(0, .5, .7, .8, .9, .95, .97),
                     backends=("torch", "onnxruntime", "openvino", "deepsparse"), kernels=("dense", "sparse"))
    result = run_sweep(spec)          # records appended to the store, SweepResult returned
    print(format_sweep(result.rows, result.crossovers))

Definitions used in the table:
  speedup    median latency of the backend's dense model (sparsity 0, its first kernel) divided by this
             cell's, with a bootstrap 95% interval (harness.foundation.stats.ratio_with_spread) over the pooled samples
  crossover  the lowest sparsity from which the speedup's 95% interval lies above WIN_MARGIN (1.05) at
             every higher measured sparsity (None: it never wins)
Backends whose kernel option changes nothing (onnxruntime: no sparse kernel; deepsparse: always its own
sparsity-aware kernels) are run once per sparsity, with the first kernel asked for.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.registry import USER_BACKENDS
from harness.contracts import KERNELS, BenchConfig, RunRecord, Settings, TaskSpec
from harness.foundation.errors import ConfigError, HarnessError, choices_error
from harness.foundation.machine import cache_dir
from harness.foundation.stats import ratio_with_spread
from harness.foundation.tables import format_markdown_table
from harness.models.registry import MODELS, model_family
from harness.pruning.recipes import Recipe
from harness.variants.neural import read_manifest

SCOPES = ("global", "per-layer")
DEFAULT_SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97)
# backends on which `kernel` selects nothing: one run per sparsity is enough
KERNEL_INSENSITIVE = {
    "onnxruntime": "its CPU provider has no sparse MatMul/Gemm kernel",
    "deepsparse": "it always uses its own sparsity-aware kernels",
}
# a sparsity "wins" when the speedup's whole 95% interval lies above this: at least 5% faster, so that a
# dense kernel's noise-level differences (a few percent) are not read as sparsity paying off
WIN_MARGIN = 1.05
SWEEP_METHOD = "magnitude"
SWEEP_STRUCTURE = "unstructured"


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep. Validated on construction; errors name the field, the value and the valid choices."""

    model: str
    sparsities: tuple[float, ...] = DEFAULT_SPARSITIES
    backends: tuple[str, ...] = ("torch",)
    kernels: tuple[str, ...] = ("dense", "sparse")
    threads: int = 1
    batch_size: int = 1
    seq_len: int | None = None  # None: the model's default
    scope: str = "global"  # magnitude ranking across all prunable layers, or within each layer
    repeats: int = 1
    variants_dir: str | None = None  # None: <cache>/sweep-variants
    instance_type: str | None = None
    settings: Settings = field(default_factory=Settings)
    knobs: dict = field(default_factory=dict)  # backend knobs (sparse_threshold, ...), routed to the backends
    task: TaskSpec | None = None  # quality measured on each engine after timing

    def __post_init__(self):
        if self.model not in MODELS:
            raise choices_error("model", self.model, MODELS)
        if not self.sparsities:
            raise ConfigError("sparsities: expected at least one sparsity")
        for s in self.sparsities:
            if not isinstance(s, (int, float)) or isinstance(s, bool) or not 0.0 <= s < 1.0:
                raise ConfigError(f"sparsities: expected fractions in [0, 1), got {s!r}")
        if len(set(self.sparsities)) != len(self.sparsities):
            raise ConfigError(f"sparsities: duplicate values in {list(self.sparsities)}")
        for b in self.backends:
            if b not in USER_BACKENDS:
                raise choices_error("backend", b, USER_BACKENDS)
        for k in self.kernels:
            if k not in KERNELS:
                raise choices_error("kernel", k, KERNELS)
        if not self.backends or not self.kernels:
            raise ConfigError("backends and kernels: expected at least one of each")
        if self.scope not in SCOPES:
            raise choices_error("scope", self.scope, SCOPES)
        for name in ("threads", "batch_size", "repeats"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}: expected a positive integer, got {value!r}")
        if self.seq_len is not None and (not isinstance(self.seq_len, int) or self.seq_len < 1):
            raise ConfigError(f"seq_len: expected a positive integer, got {self.seq_len!r}")


@dataclass(frozen=True)
class SweepRow:
    """One cell of the sweep table: a backend/kernel at one sparsity, samples pooled over repeats."""

    backend: str
    kernel: str  # requested
    sparsity: float  # target
    realised_sparsity: float | None
    kernels_ran: tuple[str, ...]  # effective kernel(s) the records report
    status: str  # "ok", or the first failure status
    reason: str | None
    n: int
    p50_ms: float | None
    speedup: float | None  # dense model on this backend / this cell
    speedup_ci95: tuple[float, float] | None

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.kernel}"


@dataclass(frozen=True)
class SweepResult:
    spec: SweepSpec
    variants: dict  # target sparsity -> variant directory (None for the dense model)
    records: list
    rows: list  # SweepRow
    crossovers: dict  # label -> crossover sparsity or None


# -- variants -------------------------------------------------------------------------------------


def variant_path(spec_or_model, sparsity: float, scope: str = "global", variants_dir: str | Path | None = None) -> Path:
    """Where the sweep keeps the variant of `model` at `sparsity` (a name that says what it is)."""
    model = spec_or_model.model if isinstance(spec_or_model, SweepSpec) else spec_or_model
    if isinstance(spec_or_model, SweepSpec):
        scope, variants_dir = spec_or_model.scope, spec_or_model.variants_dir
    root = Path(variants_dir) if variants_dir else cache_dir() / "sweep-variants"
    return root / f"{model}-{SWEEP_METHOD}-{scope}-{round(sparsity * 1000):04d}"


def make_magnitude_variant(model_name: str, sparsity: float, out_dir: str | Path, *, scope: str = "global",
                           seed: int = 0) -> Path:
    """One-shot unstructured magnitude pruning of the family's prunable layers at `sparsity`, no fine-tuning,
    through the pruning library's make_variant (so the manifest carries the recipe and the quality of the
    pruned model against the dense one on generated inputs). Returns the variant directory."""
    from harness.pruning.pruner import make_variant

    if scope not in SCOPES:
        raise choices_error("scope", scope, SCOPES)
    recipe = Recipe.from_dict(
        {"method": SWEEP_METHOD, "structure": SWEEP_STRUCTURE, "sparsity": sparsity, "scope": scope, "seed": seed,
         "schedule": {"kind": "oneshot"}, "finetune": {"steps": 0},
         "description": "harness sweep: one-shot magnitude pruning, no fine-tuning"},
        source="harness sweep",
    )
    path, _ = make_variant(model_name, recipe, out_dir=out_dir, data_dir=None, progress=False, source="harness sweep")
    return Path(path)


def ensure_variants(spec: SweepSpec, *, echo=None) -> dict:
    """{target sparsity: variant dir (None for 0, the dense model)}, making the ones not on disk yet.

    A variant already at its path is reused when its manifest says the same model, method, structure,
    scope and target sparsity, without fine-tuning; otherwise it is remade.
    """
    out = {}
    for s in spec.sparsities:
        if s == 0:
            out[s] = None
            continue
        path = variant_path(spec, s)
        try:
            m = read_manifest(path)
            fresh = (m.model == spec.model and m.method == SWEEP_METHOD and m.target_sparsity == s
                     and m.structure == SWEEP_STRUCTURE and m.scope == spec.scope and not m.train_steps)
        except HarnessError:
            fresh = False
        if not fresh:
            if echo:
                echo(f"making {spec.model} at {s:.0%} unstructured magnitude sparsity ({spec.scope}) -> {path}")
            make_magnitude_variant(spec.model, s, path, scope=spec.scope)
        out[s] = str(path)
    return out


# -- configurations and the run -----------------------------------------------------------------------


def sweep_configs(spec: SweepSpec, variants: dict) -> list[BenchConfig]:
    """Sparsity x backend x kernel configurations, in a stable order (sparsity outermost)."""
    from harness.measure.matrix import backend_settings_for

    seq_len = spec.seq_len or model_family(spec.model).default_seq_len
    configs = []
    for s in spec.sparsities:
        for backend in spec.backends:
            kernels = spec.kernels[:1] if backend in KERNEL_INSENSITIVE else spec.kernels
            for kernel in kernels:
                configs.append(BenchConfig(
                    model=spec.model, backend=backend, batch_size=spec.batch_size, seq_len=seq_len,
                    threads=spec.threads, kernel=kernel, variant=variants[s], instance_type=spec.instance_type,
                    settings=spec.settings, backend_settings=backend_settings_for(backend, spec.knobs), task=spec.task,
                ))
    return configs


def run_sweep(spec: SweepSpec, *, root=None, progress: bool = True, calibrate: bool = True, force: bool = True,
              echo=print) -> SweepResult:
    """Make the variants, run the configurations interleaved (`spec.repeats` rounds), summarise."""
    from harness.measure.bench import run_configs

    variants = ensure_variants(spec, echo=echo)
    configs = sweep_configs(spec, variants)
    records = run_configs(configs, root=root, force=force, repeats=spec.repeats, progress=progress,
                          calibrate=calibrate, echo=None if echo else False)
    target = {v: s for s, v in variants.items()}
    rows = sweep_rows(records, lambda r: target.get(r.config.variant))
    return SweepResult(spec=spec, variants=variants, records=records, rows=rows, crossovers=crossovers(rows))


# -- summarising ---------------------------------------------------------------------------------------


def _median(values) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def sweep_rows(records: list[RunRecord], sparsity_of=None) -> list[SweepRow]:
    """Group records by (backend, requested kernel, sparsity) and compare each group with the backend's
    dense model. `sparsity_of(record)` gives a record's target sparsity (default: the realised sparsity in
    its config rounded to 2 decimals, 0 for the dense model)."""
    def default_sparsity(r):
        s = r.config.sparsity
        return 0.0 if not r.config.variant else (round(s, 2) if s is not None else None)

    sparsity_of = sparsity_of or default_sparsity
    groups: dict = {}
    for r in records:
        s = sparsity_of(r)
        if s is None:
            s = default_sparsity(r)
        groups.setdefault((r.config.backend, r.config.kernel, float(s)), []).append(r)
    baselines: dict = {}
    for backend in dict.fromkeys(k[0] for k in groups):
        candidates = [k for k in groups if k[0] == backend and k[2] == 0.0]
        candidates.sort(key=lambda k: (k[1] != "dense", k[1]))
        for key in candidates:
            samples = [x for r in groups[key] if r.ok for x in r.samples_ms]
            if samples:
                baselines[backend] = samples
                break
    rows = []
    order = {label: i for i, label in enumerate(dict.fromkeys(k[:2] for k in groups))}  # first appearance
    for (backend, kernel, s), recs in sorted(groups.items(), key=lambda kv: (order[kv[0][:2]], kv[0][2])):
        ok = [r for r in recs if r.ok]
        samples = [x for r in ok for x in r.samples_ms]
        failed = next((r for r in recs if not r.ok), None)
        base = baselines.get(backend)
        ratio = ratio_with_spread(base, samples) if base and samples else None
        realised = [r.config.sparsity for r in recs if r.config.sparsity is not None]
        rows.append(SweepRow(
            backend=backend, kernel=kernel, sparsity=s,
            realised_sparsity=realised[0] if realised else (0.0 if s == 0 else None),
            kernels_ran=tuple(dict.fromkeys(r.effective.kernel or "?" for r in ok)),
            status=failed.status if failed else "ok",
            reason=failed.reason if failed else None,
            n=len(samples), p50_ms=_median(samples) if samples else None,
            speedup=ratio["ratio"] if ratio else None,
            speedup_ci95=tuple(ratio["ci95"]) if ratio else None,
        ))
    return rows


def crossover(rows: list[SweepRow], margin: float = WIN_MARGIN) -> float | None:
    """The lowest sparsity from which the speedup's 95% interval lies above `margin` at every higher
    measured sparsity of these rows (one backend/kernel); None when the highest sparsity does not win."""
    ordered = sorted((r for r in rows if r.sparsity > 0), key=lambda r: r.sparsity)
    wins = [r.speedup_ci95 is not None and r.speedup_ci95[0] > margin for r in ordered]
    first = None
    for i in range(len(ordered)):
        if all(wins[i:]):
            first = ordered[i].sparsity
            break
    return first


def crossovers(rows: list[SweepRow]) -> dict:
    labels = dict.fromkeys(r.label for r in rows)
    return {label: crossover([r for r in rows if r.label == label]) for label in labels}


def format_sweep(rows: list[SweepRow], cross: dict | None = None) -> str:
    """A Markdown table: one line per sparsity, one column per backend/kernel, cells 'p50 ms (speedup x)'."""
    cross = crossovers(rows) if cross is None else cross
    labels = list(dict.fromkeys(r.label for r in rows))
    ran = {label: ",".join(dict.fromkeys(k for r in rows if r.label == label for k in r.kernels_ran)) for label in labels}
    header = ["sparsity"] + [f"{label} [{ran[label] or '-'}]" for label in labels]
    cells = {(r.label, r.sparsity): r for r in rows}
    table = []
    for s in sorted(dict.fromkeys(r.sparsity for r in rows)):
        table.append({"sparsity": f"{s:.0%}"} | {h: _cell(cells.get((label, s)), s) for label, h in zip(labels, header[1:])})
    table.append({"sparsity": "crossover"} | {h: _fmt_cross(cross.get(label)) for label, h in zip(labels, header[1:])})
    return format_markdown_table(table, header)


def _cell(r: SweepRow | None, sparsity: float) -> str:
    if r is None:
        return ""
    if r.p50_ms is None:
        return r.status
    cell = f"{r.p50_ms:.2f} ms"
    if r.speedup is not None and sparsity > 0:
        lo, hi = r.speedup_ci95
        cell += f" ({r.speedup:.2f}x, {lo:.2f}-{hi:.2f})"
    return cell


def _fmt_cross(value) -> str:
    return "never (within the measured range)" if value is None else f"{value:.0%}"


def result_to_dict(result: SweepResult) -> dict:
    """A JSON-ready summary (no samples; the records hold them)."""
    return {
        "schema_version": 1,
        "spec": dataclasses.asdict(result.spec),
        "variants": {str(k): v for k, v in result.variants.items()},
        "rows": [dataclasses.asdict(r) | {"label": r.label} for r in result.rows],
        "crossovers": result.crossovers,
        "record_ids": [r.record_id for r in result.records],
    }
