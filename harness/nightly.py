"""Nightly runs with asv: the suites, the measurements behind benchmarks/bench_harness.py, and `harness nightly`.

The asv suites are thin: their `setup_cache` calls `measure_for_asv()`, which runs every configuration of
the selected suite once through the harness runner (one pinned worker per configuration, records appended
to results/runs like any `harness bench`), and returns a small summary per configuration. Each `track_`
benchmark then reads one number from that summary.

`run_nightly()` drives asv for the current commit of a repository on this machine, with the existing
Python environment (`asv run -E existing:PY --set-commit-hash HEAD`), then publishes the site with
`asv publish`. The published site loads jQuery, Flot and Bootstrap from CDNs that an offline machine cannot
reach; `vendor_site_assets()` replaces those references with local copies fetched once from the npm registry
(exact versions, each file checked against a pinned SHA-256) so the charts render offline.

Environment read inside asv's benchmark processes (set by `run_nightly`):
  HARNESS_ASV_SUITE           suite name (nightly | quick); HARNESS_ASV_QUICK=1 means quick
  HARNESS_ASV_INSTANCE_TYPE   the instance type the records declare (for the $/1M track)
  HARNESS_ASV_REGION          the region whose price is used (default us-east-2)
  HARNESS_NIGHTLY_COMMIT      the commit the records are filed under
  HARNESS_RESULTS_DIR         where records go (default: results/ beside asv.conf.json)

ASV_CACHE_SCHEMA_VERSION history (the dict `measure_for_asv` returns, pickled by asv between processes):
  1 - first version: schema_version, suite, commit, region, results {(model, variant, backend, threads,
      batch): summary}.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, HarnessError, choices_error
from .contracts import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
ASV_CONF = REPO_ROOT / "asv.conf.json"
ASV_CACHE_SCHEMA_VERSION = 1
PARAM_NAMES = ("model", "variant", "backend", "threads", "batch")
DEFAULT_REGION = "us-east-2"
VARIANT_RECIPE_VERSION = 1  # bump when ensure_variant makes different weights or quality numbers
QUALITY_BATCH = 32  # seeded inputs on which a variant's agreement with the dense model is measured
QUALITY_SEED = 1234

_VARIANT_RE = re.compile(r"^magnitude-(\d{1,2})$")


# ----------------------------------------------------------------------------------------------------------------
# suites


def parse_variant(spec: str) -> float | None:
    """The target sparsity of a suite variant name: "dense" -> None, "magnitude-80" -> 0.8."""
    if spec == "dense":
        return None
    m = _VARIANT_RE.match(spec or "")
    if not m or not 1 <= int(m.group(1)) <= 99:
        raise ConfigError(f"suite variant: {spec!r} is not a variant name; valid: dense, magnitude-NN (NN = 1..99, percent zeros)")
    return int(m.group(1)) / 100.0


@dataclass(frozen=True)
class Suite:
    """What a nightly run measures: the product of models x variants x backends x threads x batch sizes."""

    name: str
    models: tuple[str, ...]
    variants: tuple[str, ...]  # "dense" or "magnitude-NN" (one-shot global unstructured magnitude, NN% zeros)
    backends: tuple[str, ...]
    threads: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    seq_len: int | None = None  # None: each model's default (text: tokens, image: side)
    settings: Settings = field(default_factory=Settings)
    timeout_s: float = 3600.0  # asv's limit for the whole measurement (setup_cache)
    instance_type: str | None = None  # the instance type records declare; None: undeclared (no $/1M)
    region: str = DEFAULT_REGION

    def __post_init__(self):
        from .models.registry import MODELS
        from .backends.registry import BACKENDS

        for m in self.models:
            if m not in MODELS:
                raise choices_error("suite model", m, MODELS)
        for b in self.backends:
            if b not in BACKENDS:
                raise choices_error("suite backend", b, BACKENDS)
        for v in self.variants:
            parse_variant(v)
        for name in ("threads", "batch_sizes"):
            for x in getattr(self, name):
                if not isinstance(x, int) or isinstance(x, bool) or x < 1:
                    raise ConfigError(f"suite {name}: expected positive integers, got {x!r}")

    def asv_params(self) -> list[list]:
        return [list(self.models), list(self.variants), list(self.backends), list(self.threads), list(self.batch_sizes)]

    def keys(self) -> list[tuple]:
        """Every (model, variant, backend, threads, batch) combination, in asv's parameter order."""
        return list(itertools.product(self.models, self.variants, self.backends, self.threads, self.batch_sizes))

    def seq_for(self, model: str) -> int:
        from .models.registry import model_family

        return self.seq_len or model_family(model).default_seq_len


SUITES = {
    # the nightly job: the dense zoo and one pruned variant of each, on every CPU backend
    "nightly": Suite(
        name="nightly",
        models=("bert-base", "distilbert", "minilm", "resnet50"),
        variants=("dense", "magnitude-80"),
        backends=("torch", "onnxruntime", "openvino", "deepsparse"),
        threads=(1, 2),
        batch_sizes=(1, 8),
        settings=Settings(warmup_iters=5, warmup_s=1.0, min_iters=50, min_duration_s=5.0, timeout_s=900.0),
        timeout_s=6 * 3600.0,
    ),
    # CI: a tiny model, two backends, seconds per configuration; exercises the whole asv path
    "quick": Suite(
        name="quick",
        models=("bert-tiny",),
        variants=("dense", "magnitude-50"),
        backends=("torch", "onnxruntime"),
        threads=(1,),
        batch_sizes=(1,),
        seq_len=16,
        settings=Settings(warmup_iters=2, warmup_s=0.0, min_iters=20, min_duration_s=0.3, timeout_s=120.0),
        timeout_s=900.0,
    ),
}


def selected_suite(environ=None) -> Suite:
    """The suite named by HARNESS_ASV_SUITE (or quick when HARNESS_ASV_QUICK=1), with env overrides applied."""
    env = os.environ if environ is None else environ
    name = env.get("HARNESS_ASV_SUITE") or ("quick" if env.get("HARNESS_ASV_QUICK", "") not in ("", "0") else "nightly")
    if name not in SUITES:
        raise choices_error("HARNESS_ASV_SUITE", name, SUITES)
    suite = SUITES[name]
    changes = {}
    if env.get("HARNESS_ASV_INSTANCE_TYPE"):
        changes["instance_type"] = env["HARNESS_ASV_INSTANCE_TYPE"]
    if env.get("HARNESS_ASV_REGION"):
        changes["region"] = env["HARNESS_ASV_REGION"]
    return dataclasses.replace(suite, **changes) if changes else suite


# ----------------------------------------------------------------------------------------------------------------
# variants


def ensure_variant(model: str, spec: str, seq_len: int, cache: Path | None = None) -> Path:
    """The directory of the suite variant `spec` of `model`, made once and then reused.

    Made by one-shot global unstructured magnitude pruning of the family's prunable layers (the pruning
    library's Magnitude criterion and Unstructured structure), without fine-tuning. Its manifest records
    the realised sparsity and its quality: top-1 agreement and mean KL divergence with the dense model on
    QUALITY_BATCH seeded inputs. Reusing the directory keeps its variant id, hence the records' identity
    (config_hash), the same from night to night, which is what `harness regressions` matches on.
    """
    sparsity = parse_variant(spec)
    if sparsity is None:
        raise ConfigError("ensure_variant: 'dense' is not a pruned variant")
    from .machine import cache_dir

    out = Path(cache or cache_dir()) / "asv-variants" / f"{model}-s{seq_len}-r{VARIANT_RECIPE_VERSION}" / spec
    if (out / "manifest.json").is_file():
        return out

    import torch  # heavy: only when a variant must be made

    from .pruning.criteria import Magnitude
    from .pruning.masks import apply_masks, sparsity_report
    from .pruning.structures import make_structure
    from .models.registry import model_family
    from .variants.neural import save_variant

    family = model_family(model)
    dense = family.build(seed=0)
    pruned = family.build(seed=0)
    layers = family.prunable_layers(pruned)
    weights = {name: layer.weight.detach() for name, layer in layers.items()}
    masks = make_structure("unstructured").masks(Magnitude(), weights, sparsity, "global")
    apply_masks(layers, masks)

    inputs = family.example_inputs(batch_size=QUALITY_BATCH, seq_len=seq_len, seed=QUALITY_SEED)
    with torch.no_grad():
        ref = dense(**inputs).logits.float()
        got = pruned(**inputs).logits.float()
    agreement = float((ref.argmax(-1) == got.argmax(-1)).float().mean())
    kl = float(torch.nn.functional.kl_div(got.log_softmax(-1), ref.log_softmax(-1), log_target=True, reduction="batchmean"))
    manifest = {
        "method": "magnitude",
        "structure": "unstructured",
        "scope": "global",
        "schedule": "oneshot",
        "target_sparsity": sparsity,
        "realised_sparsity": sparsity_report(layers),
        "recipe": {"source": "harness.nightly.ensure_variant", "version": VARIANT_RECIPE_VERSION, "finetune": None},
        "seeds": {"model": 0, "quality_inputs": QUALITY_SEED},
        "quality": {
            "inputs": f"{QUALITY_BATCH} seeded example inputs (seed {QUALITY_SEED}, length {seq_len})",
            "dense": {"top1_agreement": 1.0, "kl_dense_pruned": 0.0},
            "pruned": {"top1_agreement": agreement, "kl_dense_pruned": kl},
        },
        "description": f"asv suite variant {spec}: one-shot magnitude pruning without fine-tuning",
    }
    save_variant(pruned, model, manifest, out)
    return out


# ----------------------------------------------------------------------------------------------------------------
# measurement (runs inside asv's setup_cache process)


def backend_unavailable(name: str) -> str | None:
    """Why the backend cannot run in this environment, or None when it can (or only a run can tell)."""
    from .backends.registry import backend_class

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
    from .machine import git_commit

    return git_commit()


def price_book(root: Path):
    """The price book in force for results under `root` (bundled snapshot < root/prices snapshots)."""
    from .pricing import load_price_book

    return load_price_book(snapshot_dir=str(Path(root) / "prices"))


def asv_summary(record, book, region: str) -> dict:
    """The numbers the track_ benchmarks report for one run record, with the reason for each missing one.

    usd_per_million = usd_per_hour / (throughput_per_s * 3600) * 1e6, with the on-demand price of the
    instance type the record declares (machine.instance_type) in `region`. Quality is the variant's top-1
    agreement with the dense model (manifest quality, torch fp32); the dense model agrees with itself: 1.0.
    """
    out = {"status": record.status, "reason": record.reason, "record_id": record.record_id,
           "config_hash": record.config_hash, "why": {}}
    if not record.ok:
        return out
    lat, metrics, why = record.latency, record.metrics, out["why"]
    out["p50_ms"] = lat.percentile("p50")
    out["p99_ms"] = lat.percentile("p99")
    if out["p99_ms"] is None:
        why["p99_ms"] = f"p99 unsupported: {lat.n} samples are too few for a 95% interval (about 300 needed)"
    if out["p50_ms"] is None:
        why["p50_ms"] = f"p50 unsupported: {lat.n} samples"
    tput = metrics.throughput_per_s
    out["throughput_per_s"] = tput
    size = metrics.artifact_bytes
    out["artifact_mb"] = size / 1e6 if size else None
    if not size:
        why["artifact_mb"] = "the record has no artifact_bytes"
    if record.config.variant:
        quality = record.quality
        out["top1_agreement"] = quality.top1_agreement if quality else None
        if out["top1_agreement"] is None:
            why["top1_agreement"] = "the variant's manifest has no quality.pruned.top1_agreement"
    else:
        out["top1_agreement"] = 1.0
    instance = record.instance_type
    out.update(instance_type=instance, region=region, usd_per_hour=None, usd_per_million=None)
    if not instance:
        why["usd_per_million"] = "no instance type declared (harness nightly --instance-type T)"
    else:
        quote = book.get(instance, region) if book is not None else None
        if quote is None:
            why["usd_per_million"] = f"no on-demand price for {instance} in {region} in the price book"
        elif not tput:
            why["usd_per_million"] = "no throughput measured"
        else:
            out["usd_per_hour"] = quote.usd_per_hour
            out["price_source"] = f"{quote.source} (as of {quote.as_of})"
            out["usd_per_million"] = quote.usd_per_hour / (tput * 3600.0) * 1e6
    return out


def measure_suite(suite: Suite, *, root: Path, commit: str | None, echo=None) -> dict:
    """Run every configuration of `suite` once, append its record under `root`, return the asv cache dict."""
    from .bench import measure, one_line
    from .contracts import BenchConfig
    from .machine import fingerprint
    from .store import append_record

    say = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    machine = fingerprint(suite.instance_type)
    book = price_book(root)
    variant_dirs: dict[tuple[str, str], str | Exception] = {}
    unavailable = {b: backend_unavailable(b) for b in suite.backends}
    results: dict[tuple, dict] = {}
    for key in suite.keys():
        model, variant, backend, threads, batch = key
        if unavailable[backend]:
            results[key] = {"status": "unavailable", "reason": unavailable[backend], "why": {}}
            continue
        seq = suite.seq_for(model)
        path = None
        if variant != "dense":
            if (model, variant) not in variant_dirs:
                try:
                    variant_dirs[(model, variant)] = str(ensure_variant(model, variant, seq))
                except Exception as exc:  # noqa: BLE001 - the dense configurations still run; this one fails with the reason
                    variant_dirs[(model, variant)] = exc
            path = variant_dirs[(model, variant)]
            if isinstance(path, Exception):
                reason = str(path) if isinstance(path, HarnessError) else f"{type(path).__name__}: {path}"
                results[key] = {"status": "error", "reason": f"variant {variant} of {model}: {reason}", "why": {}}
                continue
        config = BenchConfig(model=model, backend=backend, batch_size=batch, seq_len=seq, threads=threads,
                             variant=path, instance_type=suite.instance_type, settings=suite.settings)
        record = measure(config, machine=machine, commit=commit)
        append_record(record, root)
        say(one_line(record))
        summary = asv_summary(record, book, suite.region)
        if record.status == "unsupported":
            summary["status"] = "unavailable"
        results[key] = summary
    return {"schema_version": ASV_CACHE_SCHEMA_VERSION, "suite": suite.name, "commit": commit,
            "region": suite.region, "results": results}


def measure_for_asv() -> dict:
    """asv setup_cache: measure the selected suite for the commit named by the environment."""
    return measure_suite(selected_suite(), root=results_root(), commit=record_commit())


def asv_value(cache: dict, key: tuple, metric: str) -> float:
    """One tracked number for one parameter combination.

    Raises NotImplementedError (asv: skipped, n/a) when the backend is not installed or the metric cannot
    exist for this run (p99 with too few samples, $/1M without an instance type), and RuntimeError
    (asv: failed) when the configuration ran and failed.
    """
    if not isinstance(cache, dict) or cache.get("schema_version") != ASV_CACHE_SCHEMA_VERSION:
        raise RuntimeError(f"asv cache has schema_version {cache.get('schema_version') if isinstance(cache, dict) else None!r}, "
                           f"expected {ASV_CACHE_SCHEMA_VERSION}")
    entry = cache["results"].get(tuple(key))
    if entry is None:
        raise NotImplementedError(f"{key} is not part of suite {cache.get('suite')!r}")
    status = entry.get("status")
    if status == "unavailable":
        raise NotImplementedError(entry.get("reason") or "backend not available")
    if status != "ok":
        raise RuntimeError(f"{status}: {entry.get('reason')}")
    value = entry.get(metric)
    if value is None:
        raise NotImplementedError(entry.get("why", {}).get(metric) or f"{metric} was not measured")
    return float(value)


# ----------------------------------------------------------------------------------------------------------------
# `harness nightly`: asv run + asv publish


@dataclass(frozen=True)
class NightlyResult:
    commit: str  # the commit asv filed the results under
    record_commit: str  # the commit the run records are filed under (with -dirty for local changes)
    suite: str
    machine: str
    asv_returncode: int
    results_dir: str
    html_dir: str | None
    vendored: bool  # the site's scripts are local copies (renders offline)


def _git(repo: Path, *args) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"git {' '.join(args)} failed in {str(repo)!r}: {exc}") from None
    if out.returncode != 0:
        raise HarnessError(f"git {' '.join(args)} failed in {str(repo)!r}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return out.stdout.strip()


def head_commit(repo: Path) -> tuple[str, str]:
    """(HEAD's full hash, the branch asv should follow: the current branch, or HEAD when detached)."""
    repo = Path(repo)
    if not (repo / ".git").exists():
        raise HarnessError(f"--repo {str(repo)!r} is not a git repository; asv needs one with at least one commit")
    try:
        commit = _git(repo, "rev-parse", "--verify", "HEAD^{commit}")
    except HarnessError:
        raise HarnessError(f"--repo {str(repo)!r} has no commit yet; asv needs at least one") from None
    branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    return commit, branch if branch and branch != "HEAD" else "HEAD"


def environment_python() -> str:
    """This environment's interpreter under one stable name (asv names its results after the path)."""
    candidate = Path(sys.prefix) / "bin" / "python"
    if sys.prefix != sys.base_prefix and candidate.exists():
        return str(candidate)
    return sys.executable


def load_asv_conf(path: Path = ASV_CONF) -> dict:
    """asv.conf.json as a dict (asv's own loader: it allows // comments)."""
    from asv import util  # asv is a dependency of the main environment

    if not Path(path).is_file():
        raise HarnessError(f"asv configuration {str(path)!r} not found")
    return util.load_json(str(path), api_version=1, js_comments=True)


def derived_conf(base: dict, *, repo: Path, branch: str, root: Path, html_dir: Path, conf_dir: Path) -> dict:
    """asv.conf.json with absolute paths: this repository and branch, results under `root`."""
    bench_dir = Path(base.get("benchmark_dir", "benchmarks"))
    conf = dict(base)
    conf.update(
        version=1,  # asv's loader checks and strips it
        repo=str(repo),
        branches=[branch],
        benchmark_dir=str(bench_dir if bench_dir.is_absolute() else (conf_dir / bench_dir).resolve()),
        results_dir=str(root / "asv"),
        html_dir=str(html_dir),
        env_dir=str(root / "asv" / "env"),
    )
    return conf


def run_nightly(*, quick: bool = False, suite: str | None = None, repo: str | Path | None = None,
                results: str | Path | None = None, python: str | None = None, machine: str | None = None,
                instance_type: str | None = None, region: str | None = None, bench: str | None = None,
                publish: bool = True, fetch_assets: bool = True, out=None) -> NightlyResult:
    """Run the asv suite for HEAD of `repo` on this machine in the existing environment, then publish.

    Results: asv's under RESULTS/asv, run records under RESULTS/runs, the site under RESULTS/html
    (replaced whole, never half-written). Returns what ran; asv's own return code says whether every
    benchmark succeeded (a skipped backend is not a failure).
    """
    out = out or sys.stdout
    name = suite or ("quick" if quick else os.environ.get("HARNESS_ASV_SUITE") or "nightly")
    if name not in SUITES:
        raise choices_error("suite", name, SUITES)
    from .pricing import validate_instance_name, validate_region

    if region:
        validate_region(region, "--region")
    if instance_type:
        validate_instance_name(instance_type, "--instance-type")
    repo_path = Path(repo or REPO_ROOT).resolve()
    commit, branch = head_commit(repo_path)
    from .machine import git_commit

    rec_commit = git_commit(repo_path) or commit
    root = Path(results or os.environ.get("HARNESS_RESULTS_DIR") or "results").resolve()
    root.mkdir(parents=True, exist_ok=True)
    machine_name = machine or platform.node() or "localhost"
    python = python or environment_python()
    base = load_asv_conf()

    env = dict(os.environ)
    env.update(HARNESS_ASV_SUITE=name, HARNESS_RESULTS_DIR=str(root), HARNESS_NIGHTLY_COMMIT=rec_commit)
    env.pop("HARNESS_ASV_QUICK", None)
    if instance_type:
        env["HARNESS_ASV_INSTANCE_TYPE"] = instance_type
    if region:
        env["HARNESS_ASV_REGION"] = region
    selected_suite(env)  # validate the overrides before asv starts

    html_final = root / "html"
    conf_dir = Path(tempfile.mkdtemp(prefix="harness-asv-"))
    html_tmp = root / f".html.tmp-{uuid.uuid4().hex[:8]}"
    try:
        conf = derived_conf(base, repo=repo_path, branch=branch, root=root, html_dir=html_final, conf_dir=ASV_CONF.parent)
        conf_path = conf_dir / "asv.conf.json"
        conf_path.write_text(json.dumps(conf, indent=1))
        asv = [python, "-m", "asv"]
        print(f"harness nightly: suite {name}, commit {commit[:12]} ({branch}) of {repo_path}, machine {machine_name}", file=out, flush=True)
        _run([*asv, "machine", "--yes", "--machine", machine_name, "--config", str(conf_path)], env, conf_dir, out,
             check=True, echo=False)
        cmd = [*asv, "run", "--config", str(conf_path), "--environment", f"existing:{python}",
               "--set-commit-hash", commit, "--machine", machine_name, "--show-stderr"]
        if bench:
            cmd += ["--bench", bench]
        code = _run(cmd, env, conf_dir, out)
        vendored = False
        html = None
        if publish:
            _run([*asv, "publish", "--config", str(conf_path), "--html-dir", str(html_tmp)], env, conf_dir, out, check=True)
            if fetch_assets:
                try:
                    vendor_site_assets(html_tmp)
                    vendored = True
                except HarnessError as exc:
                    print(f"harness nightly: warning: the site keeps its CDN scripts and needs internet to render: {exc}", file=out)
            _replace_dir(html_tmp, html_final)
            html = str(html_final)
            print(f"harness nightly: site in {html_final} (serve it: python -m http.server -d {html_final} -b 127.0.0.1)", file=out)
        print(f"harness nightly: run records in {root / 'runs'}; check with: harness regressions --results {root}", file=out)
        return NightlyResult(commit=commit, record_commit=rec_commit, suite=name, machine=machine_name, asv_returncode=code,
                             results_dir=str(root), html_dir=html, vendored=vendored)
    finally:
        shutil.rmtree(conf_dir, ignore_errors=True)
        shutil.rmtree(html_tmp, ignore_errors=True)


def _run(cmd: list[str], env: dict, cwd: Path, out, check: bool = False, echo: bool = True) -> int:
    """Run one asv command, copying its output to `out` as it comes (or only on failure when not echo)."""
    lines: list[str] = []
    with subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            lines.append(line)
            if echo:
                out.write(line)
                out.flush()
        code = proc.wait()
    if code != 0 and not echo:
        out.write("".join(lines))
    if check and code != 0:
        last = [ln.strip() for ln in lines if ln.strip()]
        raise HarnessError(f"`asv {cmd[3]}` exited with {code}: {last[-1][:300] if last else 'no output'}")
    return code


def _replace_dir(new: Path, final: Path) -> None:
    """Put directory `new` at `final`, replacing what was there with two renames (never a half-written site)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------------------
# the published site's scripts, from the npm registry


@dataclass(frozen=True)
class Asset:
    """One file the asv site loads from a CDN, and where the same library version lives on npm."""

    cdn_url: str  # as written in asv's index.html
    package: str  # npm name@version
    path: str  # file inside the package tarball (under package/)
    sha256: str  # of that file: what we checked when pinning it


ASSETS = (
    Asset("https://code.jquery.com/jquery-3.3.1.min.js", "jquery@3.3.1", "dist/jquery.min.js",
          "160a426ff2894252cd7cebbdd6d6b7da8fcd319c65b70468f10b6690c45d02ef"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js", "flot@0.8.3", "jquery.flot.js",
          "b7b931f273c38b1277b9c6c1f4e05c4ec09885a487bddaf3279e2d7e49a38e12"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js", "flot@0.8.3", "jquery.flot.time.js",
          "a582c832adc7138a6b05aaf61f16ebac274701f1be4afea77e739a1c34b9c41a"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js", "flot@0.8.3", "jquery.flot.selection.js",
          "e6c85f6c1ebe4b4da29d8ae238c7c5060283f05f7ef054f6b91817d02c092918"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js", "flot@0.8.3", "jquery.flot.categories.js",
          "6e81664b28ea795c734906f4aa15614640a75ac7fbd399a7fb9084040698351a"),
    Asset("https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js", "flot-orderbars@1.0.0",
          "js/jquery.flot.orderBars.js", "39735b4f46f96ff4e082572401f47c55a2767b366fd1d1e821e44a8d830a12bf"),
    # cdnjs serves stupidtable 1.0.1; npm has 1.1.3 of the same plugin, with the same $.fn.stupidtable API
    Asset("https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js", "stupid-table-plugin@1.1.3",
          "stupidtable.min.js", "4642380f28ebe9ed7cac251793b281ef8620c4386205d92788f9b12f5cceb4e0"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js", "blueimp-md5@2.19.0", "js/md5.min.js",
          "64d7ded388c562e4bde9e58ce205e5fa01b9734fcd434d496eb7b4fbfe9b927d"),
    Asset("https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js", "bootstrap@3.1.1", "dist/js/bootstrap.min.js",
          "898d05a17f2cfc5120ddcdba47a885c378c0b466f30f0700e502757e24b403a1"),
    Asset("https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css", "bootstrap@3.1.1", "dist/css/bootstrap.min.css",
          "e9503448692b738dd260fbd7f7cabf2e11f09b600fa97e6eb3a56eba5b1a7e9b"),
)
# files a vendored file refers to by relative path (bootstrap.min.css -> ../fonts/...)
EXTRA_FILES = (
    ("bootstrap@3.1.1", "dist/fonts/glyphicons-halflings-regular.woff", "fc969dc1c6ff531abcf368089dcbaf5775133b0626ff56b52301a059fc0f9e1e"),
    ("bootstrap@3.1.1", "dist/fonts/glyphicons-halflings-regular.ttf", "bd18efd3efd70fec8ad09611a20cdbf99440b2c1d40085c29be036f891d65358"),
    ("bootstrap@3.1.1", "dist/fonts/glyphicons-halflings-regular.eot", "f495f34e4f177cf0115af995bbbfeb3fcabc88502876e76fc51a4ab439bc8431"),
    ("bootstrap@3.1.1", "dist/fonts/glyphicons-halflings-regular.svg", "d168d50a88c730b4e6830dc0da2a2b51dae4658a77d9619943c27b8ecfc19d1a"),
)

_TAG_RE = re.compile(r"<(script|link)\b[^>]*?\b(?:src|href)=\"(https://[^\"]+)\"[^>]*>", re.S)


def _package_tarball(package: str, cache: Path) -> Path:
    """The npm tarball of `package` (name@version), fetched once with `npm pack` into `cache`."""
    name, _, version = package.rpartition("@")
    target = cache / f"{name}-{version}.tgz"
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if not npm:
        raise HarnessError(f"npm is not installed; cannot fetch {package} for the offline site (apt-get install npm)")
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=cache, prefix=".pack-"))
    try:
        proc = subprocess.run([npm, "pack", package, "--pack-destination", str(work), "--silent"],
                              capture_output=True, text=True, timeout=300, cwd=work)
        made = list(work.glob("*.tgz"))
        if proc.returncode != 0 or len(made) != 1:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()
            raise HarnessError(f"npm pack {package} failed: {tail[-1] if tail else proc.returncode}")
        os.replace(made[0], target)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"npm pack {package} took more than 300 s") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _extract(tarball: Path, member: str, sha256: str) -> bytes:
    with tarfile.open(tarball, "r:gz") as tar:
        try:
            data = tar.extractfile(f"package/{member}").read()
        except (KeyError, AttributeError):
            raise HarnessError(f"{tarball.name} has no file package/{member}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise HarnessError(f"{tarball.name}:{member} has SHA-256 {digest[:16]}..., expected {sha256[:16]}... (refusing it)")
    return data


def vendor_site_assets(html_dir: str | Path, cache: Path | None = None) -> list[str]:
    """Copy the site's CDN scripts and styles into html_dir/vendor and point index.html at them.

    Every CDN reference in index.html must be one of ASSETS; the rewritten tag keeps no integrity
    attribute (the file was checked against its pinned SHA-256 instead). Returns the local paths.
    """
    from .machine import cache_dir

    html_dir = Path(html_dir)
    index = html_dir / "index.html"
    if not index.is_file():
        raise HarnessError(f"{index} not found: publish the site first")
    cache = Path(cache or cache_dir()) / "asv-vendor"
    by_url = {a.cdn_url: a for a in ASSETS}
    text = index.read_text(encoding="utf-8")
    unknown = [url for _, url in _TAG_RE.findall(text) if url not in by_url]
    if unknown:
        raise HarnessError(f"index.html loads {unknown[0]}, which has no pinned local copy (update harness.nightly.ASSETS)")
    files: dict[str, bytes] = {}
    for asset in ASSETS:
        if asset.cdn_url in text:
            files[f"vendor/{asset.package}/{asset.path}"] = _extract(_package_tarball(asset.package, cache), asset.path, asset.sha256)
    if any(p.startswith("vendor/bootstrap@") for p in files):
        for package, path, sha in EXTRA_FILES:
            files[f"vendor/{package}/{path}"] = _extract(_package_tarball(package, cache), path, sha)
    for rel, data in files.items():
        dest = html_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)

    def local(match: re.Match) -> str:
        tag, url = match.group(1), match.group(2)
        asset = by_url[url]
        rel = f"vendor/{asset.package}/{asset.path}"
        attrs = "onerror=\"js_load_failure()\"" if tag == "script" else "rel=\"stylesheet\""
        if tag == "script":
            return f"<script src=\"{rel}\" {attrs}>"
        return f"<link {attrs} href=\"{rel}\">"

    tmp = index.with_name(f".{index.name}.tmp")
    tmp.write_text(_TAG_RE.sub(local, text), encoding="utf-8")
    os.replace(tmp, index)
    return sorted(files)


def local_site_check(html_dir: str | Path) -> list[str]:
    """The remote (http/https) scripts and styles index.html still loads; empty when it renders offline."""
    text = (Path(html_dir) / "index.html").read_text(encoding="utf-8")
    return [url for _, url in _TAG_RE.findall(text)]

