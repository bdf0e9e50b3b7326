"""The default job: measure the dense zoo on every CPU backend, add a pruned BERT-base, and end with
a cost answer.

Steps: (1) the dense matrix (matrices/demo.yaml); (2) a 90% one-shot magnitude-pruned BERT-base
(recipes/magnitude-oneshot-90.yaml, cached) measured on the same backends, plus the kernels that can
skip zeros (torch CSR, DeepSparse); (3) a summary table; (4) the cost report and the seed's CPU-vs-GPU
comparison under results/reports/.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_RECIPE = REPO / "recipes" / "magnitude-oneshot-90.yaml"
DEMO_SLA_MS = 100.0
DEMO_QPS = 50.0
DEMO_REGION = "us-east-2"


def ensure_demo_variant(model: str = "bert-base", *, progress: bool = True) -> Path:
    """The demo's pruned variant, made once and cached under HARNESS_CACHE_DIR/variants."""
    from .machine import cache_dir
    from .pruning.pruner import make_variant
    from .pruning.recipes import load_recipe

    out = cache_dir() / "variants" / f"{model}-magnitude-90"
    if (out / "manifest.json").is_file():
        return out
    print(f"harness demo: pruning {model} to 90% (one-shot magnitude) into {out}", file=sys.stderr)
    path, _ = make_variant(model, load_recipe(DEMO_RECIPE), out_dir=out, data_dir=None, progress=progress)
    return Path(path)


def pruned_configs(base, variant: Path, model: str = "bert-base") -> list:
    """The pruned model on every dense backend, plus the sparse kernels, with the dense baselines
    they are compared against on those kernels."""
    from .backends.deepsparse_backend import DeepSparseBackend
    from .runner.parent import REPO_ROOT

    template = next(c for c in base if c.model == model)
    threads = sorted({c.threads for c in base})
    out = []
    for backend in ("torch", "onnxruntime", "openvino"):
        for t in threads:
            out.append(dataclasses.replace(template, backend=backend, threads=t, variant=str(variant)))
    top = max(threads)
    out.append(dataclasses.replace(template, backend="torch", threads=top, variant=str(variant), kernel="sparse"))
    if (REPO_ROOT / DeepSparseBackend.interpreter).exists():
        out.append(dataclasses.replace(template, backend="deepsparse", threads=top))
        out.append(dataclasses.replace(template, backend="deepsparse", threads=top, variant=str(variant)))
    else:
        print("harness demo: DeepSparse environment missing (make deepsparse-env); skipping its rows", file=sys.stderr)
    return out


def run_demo(*, matrix_path, root=None, force=False, progress=True, prune=True, report=True,
             pruned_model: str = "bert-base") -> int:
    from .bench import run_configs
    from .matrix import expand, load_matrix
    from .report.summary import print_summary

    configs = expand(load_matrix(matrix_path))
    if prune and any(c.model == pruned_model for c in configs):
        configs += pruned_configs(configs, ensure_demo_variant(pruned_model, progress=progress), pruned_model)
    print(f"harness demo: {len(configs)} configurations", file=sys.stderr)
    run_configs(configs, root=root, force=force, progress=progress)
    latest = latest_per_config(root, configs)
    print()
    print_summary(latest)
    if report:
        write_reports(latest, root)
    return 0 if any(r.ok for r in latest) else 1


def write_reports(records: list, root=None) -> dict:
    from .report.cost_report import seed_example, write_analysis, write_cost_report
    from .report.seed import SEED

    reports = Path(root or "results") / "reports"
    cost = write_cost_report(records, reports / "demo", DEMO_SLA_MS, DEMO_QPS, DEMO_REGION,
                             title=f"Demo cost report (SLA p99 <= {DEMO_SLA_MS:g} ms, {DEMO_QPS:g} requests/s, {DEMO_REGION})")
    analysis, verdict = seed_example(records, DEMO_SLA_MS, DEMO_QPS, DEMO_REGION)
    seed = write_analysis(analysis, reports / "seed", title=SEED.title, preface=verdict)
    print(f"\ncost report: {cost['markdown']} (also .html, .csv)")
    print(f"seed comparison ({SEED.describe()}): {seed['markdown']}")
    for line in verdict[:6]:
        print(f"- {line}")
    return {"cost": cost, "seed": seed}


def latest_per_config(root, configs) -> list:
    """The newest record of each configuration (including ones skipped because already recorded)."""
    from .bench import variant_key
    from .store import iter_records

    wanted = {}
    for i, c in enumerate(configs):
        wanted.setdefault(c.config_hash(variant_key(c)), i)
    newest: dict = {}
    for r in iter_records(root, []):
        h = r.config_hash
        if h in wanted and (h not in newest or (r.created_at or "") >= (newest[h].created_at or "")):
            newest[h] = r
    return sorted(newest.values(), key=lambda r: wanted[r.config_hash])
