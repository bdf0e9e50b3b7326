"""`harness demo`: the default job a newcomer runs first."""

from __future__ import annotations

import os
from pathlib import Path

from harness.foundation.errors import ConfigError
from harness.foundation.paths import REPO_ROOT
from harness.workflows import demo as demo_workflow

from . import add_command
from .bench import add_force_threads_argument, check_before_measuring
from .checks import add_results_argument, check_input_dir

DEMO_MATRIX = REPO_ROOT / "matrices" / "demo.yaml"


def register(sub):
    p = add_command(
        sub, "demo", "the default job: all-MiniLM-L6-v2 fine-tuned on SST-2 and pruned with recovery, accuracy measured on every engine in fp32 and int8, the zoo's dense models beside it, then a quality-gated cost report",
        "harness demo --results results/",
    )
    add_results_argument(p)
    p.add_argument("--matrix", default=str(DEMO_MATRIX), help="matrix to run instead of matrices/demo.yaml")
    p.add_argument("--force", action="store_true", help="re-measure configurations already recorded for this commit")
    p.add_argument("--no-prune", action="store_true", help="dense models only (no pruned BERT-base)")
    p.add_argument("--no-report", action="store_true", help="skip the cost report at the end")
    p.add_argument("--data", default=os.environ.get("HARNESS_DATA_DIR"),
                   help="SST-2 directory (train.tsv, dev.tsv) for the model measured for accuracy "
                        "(default $HARNESS_DATA_DIR; without it that part is skipped)")
    p.add_argument("--no-quality", action="store_true", help="skip the fine-tuned all-MiniLM-L6-v2 measured for accuracy")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_force_threads_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.measure.matrix import expand, load_matrix

    configs = expand(load_matrix(args.matrix))  # a bad matrix is one line before any pruning
    where = Path(args.matrix).name
    check_before_measuring(configs, args, {k: f"{where}: {k}" for k in ("threads", "batch_sizes", "variants",
                                                                        "settings.memory_limit_mb")})
    data = None if args.no_quality else args.data
    if data:
        check_input_dir(data, "--data")
        for split in ("train.tsv", "dev.tsv"):
            if not (Path(data) / split).is_file():
                raise ConfigError(f"--data: {data} has no {split} (the SST-2 layout: train.tsv and dev.tsv)")
    return demo_workflow.run_demo(matrix_path=args.matrix, root=args.results, force=args.force,
                                  progress=not args.quiet, prune=not args.no_prune, report=not args.no_report,
                                  data_dir=data)
