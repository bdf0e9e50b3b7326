"""`harness demo`: the default job a newcomer runs first."""

from __future__ import annotations

from pathlib import Path

from . import add_command

DEMO_MATRIX = Path(__file__).resolve().parents[2] / "matrices" / "demo.yaml"


def register(sub):
    p = add_command(
        sub, "demo", "the default job: BERT-base, DistilBERT, ResNet50 dense, a 90%%-pruned BERT-base, three backends plus sparse kernels, then a cost report",
        "harness demo --results results/",
    )
    p.add_argument("--results", default=None, help="results directory (default results/)")
    p.add_argument("--matrix", default=str(DEMO_MATRIX), help="matrix to run instead of matrices/demo.yaml")
    p.add_argument("--force", action="store_true", help="re-measure configurations already recorded for this commit")
    p.add_argument("--no-prune", action="store_true", help="dense models only (no pruned BERT-base)")
    p.add_argument("--no-report", action="store_true", help="skip the cost report at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..demo import run_demo

    return run_demo(matrix_path=args.matrix, root=args.results, force=args.force, progress=not args.quiet,
                    prune=not args.no_prune, report=not args.no_report)
