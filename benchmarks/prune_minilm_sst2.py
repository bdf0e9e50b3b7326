"""Pruning quality and cost: MiniLM (all-MiniLM-L6-v2) on SST-2, plus the cost of pruning BERT-base.

    .venv/bin/python benchmarks/prune_minilm_sst2.py --data /path/to/sst2            # full (hours on 2 cores)
    .venv/bin/python benchmarks/prune_minilm_sst2.py --quick                          # tiny model, seconds

What it measures (all on the SST-2 dev split, 872 sentences, unless --max-eval), each method in the regime it
was published for, and the other regimes for comparison:
  1. dense: MiniLM fine-tuned on (a seeded subsample of) the training split; dev accuracy.
  2. one-shot curves, no recovery: 50/70/80/90% global unstructured sparsity of the encoder's Linear weights,
     for magnitude (|w|), movement (S = -sum g*w gathered during a short fine-tune from the dense model, whose
     weights the pruned model then keeps; not movement's published regime) and second-order (OBS with the
     block-diagonal empirical Fisher and the OBS update: oBERT's one-shot regime; one Fisher estimate shared
     by every sparsity, as oBERT's one-shot curves do).
  3. recovery to 80% with distillation from the dense model (hardness 1, temperature 2), through
     harness.pruning.loop.Pruner: magnitude and second-order in oBERT's shape, 70% at once, cubic to 80%
     over 300 steps pruning every 100, then 300 steps of fine-tuning; movement in its published regime
     (Sanh et al. 2020), hard and soft: 100 warm-up steps, cubic from 0 to 80% over 300 steps with the masks
     recomputed from the scores every 10, then 300 cool-down steps, in one fine-tuning run
     (--recovery-oneshot: every method 80% at once, then the fine-tuning steps).
     The claim checked: second-order keeps >= 98% of dense dev accuracy.
  4. layer dropping: every other encoder layer removed (6 -> 0,2,4) with 300 steps of KD recovery, and that
     followed by second-order pruning of the 3-layer model to 80% as in 3. (--skip-layers, --no-compound).
  5. cost of pruning BERT-base (110M parameters; 85M prunable): one-shot magnitude to 90%, and one-shot
     second-order to 90% under a memory budget for the inverse Fisher (default 4 GB; all of it at once
     would need about 17 GB), with the process's peak RSS.
Every prune reports wall time and the process's peak RSS during it. Results go to
results/pruning/prune_minilm_sst2.json and .md (written to a temporary file, then renamed). The rows are made in
prune_minilm_rows.py and rendered in prune_minilm_report.py.
This is a script, not an asv suite: it trains models for many minutes, which asv's timing harness is not for.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

# 1 - first version: settings, dense, oneshot, recovery, bert_base, checks
# 2 - recovery rows carry variant (movement: hard, soft) and regime; movement recovers in its gradual regime;
#     layers rows (layer dropping, and layers + second-order)
RESULT_SCHEMA_VERSION = 2
RESULT_NAME = "prune_minilm_sst2"
METHODS = ("magnitude", "movement", "second-order")
MOVEMENT_VARIANTS = ("hard", "soft")


def settings_for(args) -> dict:
    """The run's settings: full defaults, or tiny ones with --quick; explicit flags win."""
    full = dict(model="minilm", bert_model="bert-base", max_train=8192, max_eval=None, seq_len=64,
                dense_steps=600, dense_batch=32, dense_lr=5e-5, sparsities=(0.5, 0.7, 0.8, 0.9),
                movement_steps=100, movement_every=10, soft_scores_lr=1e-2, soft_lambda=400.0,
                num_grads=256, grad_batch=8, block_size=50, damping=1e-7,
                recovery_sparsity=0.8, recovery_schedule="cubic", recovery_initial=0.7, recovery_span=300,
                recovery_every=100, recovery_steps=300, recovery_batch=16, recovery_lr=1e-4, layers_sparsity=0.5,
                bert_num_grads=32, bert_budget_gb=4.0, bert_seq_len=64, bert_sparsity=0.9, seed=0)
    quick = dict(full, model="minilm-tiny", bert_model="bert-tiny", max_train=64, max_eval=32, seq_len=32,
                 dense_steps=4, dense_batch=8, sparsities=(0.5, 0.8), movement_steps=2, movement_every=1, num_grads=4,
                 grad_batch=4, recovery_span=2, recovery_every=1, recovery_steps=2, recovery_batch=4, bert_num_grads=2,
                 bert_budget_gb=0.002, bert_seq_len=16)
    s = quick if args.quick else full
    for key in ("max_train", "max_eval", "dense_steps", "num_grads", "recovery_steps", "recovery_span", "recovery_every",
                "movement_steps", "movement_every", "bert_budget_gb", "seed"):
        value = getattr(args, key, None)
        if value is not None:
            s[key] = value
    if args.sparsities:
        s["sparsities"] = tuple(float(x) for x in args.sparsities.split(","))
    s["skip_bert"] = bool(args.skip_bert)
    s["skip_layers"] = bool(args.skip_layers)
    s["compound"] = not args.no_compound
    s["recovery_methods"] = _listed(args.recovery_methods, METHODS, "--recovery-methods")
    s["movement_variants"] = _listed(args.movement_variants, MOVEMENT_VARIANTS, "--movement-variants")
    if getattr(args, "recovery_oneshot", False):
        s["recovery_schedule"] = "oneshot"
    return s


def _listed(text: str | None, valid: tuple, flag: str) -> tuple:
    values = tuple(text.split(",")) if text else valid
    unknown = [v for v in values if v not in valid]
    if unknown:
        raise SystemExit(f"prune_minilm_sst2: error: {flag}: unknown value {unknown[0]!r}; valid: {', '.join(valid)}")
    return values


def run(args) -> dict:
    import torch

    from harness.foundation.fsutil import atomic_write_text
    from harness.models.registry import model_family
    from harness.pruning.pruner import default_cache_dir
    from harness.pruning.training import finetune_dense
    from harness.tasks import make_task, resolve_data_dir

    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:  # the row and report modules next to this script (asv imports this as a package module)
        sys.path.insert(0, here)
    from prune_minilm_report import checks, markdown
    from prune_minilm_rows import Clock, _fmt, bert_rows, layer_rows, log, oneshot_rows, quality, recovery_rows

    s = settings_for(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    data_dir = resolve_data_dir(args.data)
    if not data_dir and not args.quick:
        from harness.foundation.errors import HarnessError

        raise HarnessError("this benchmark needs SST-2: pass --data DIR (train.tsv, dev.tsv) or set HARNESS_DATA_DIR")
    progress = not args.no_progress
    family = model_family(s["model"])
    dense = family.build(seed=s["seed"])
    dense_cost = {"wall_time_s": 0.0, "peak_rss_bytes": 0}
    task = None
    if data_dir:
        task = make_task(family, data_dir, seed=s["seed"], max_train=s["max_train"], max_eval=s["max_eval"], seq_len=s["seq_len"])
        log(f"data: {task.data_id}")
        with Clock() as c:
            dense = finetune_dense(family, dense, task, steps=s["dense_steps"], lr=s["dense_lr"], batch_size=s["dense_batch"],
                                   seed=s["seed"], cache_dir=args.cache_dir or default_cache_dir())
        dense_cost = {"wall_time_s": c.wall_time_s, "peak_rss_bytes": c.peak_rss_bytes}
    teacher = copy.deepcopy(dense).eval()  # the dense model every pruned one distils from and is compared with
    for p in teacher.parameters():
        p.requires_grad_(False)
    del dense
    if task is None:  # --quick without data: generated inputs labelled by the (random) dense model
        task = make_task(family, None, teacher=teacher, seed=s["seed"], max_train=s["max_train"], max_eval=s["max_eval"], seq_len=s["seq_len"])
    train_examples = len(task.train_ids) if hasattr(task, "train_ids") else s["max_train"]
    dense_q = quality(teacher, task, teacher)
    log(f"dense {s['model']}: " + _fmt(dense_q))
    oneshot, scoring = oneshot_rows(family, teacher, task, s, progress)
    recovery = recovery_rows(family, teacher, task, s, progress)
    layers = [] if s["skip_layers"] else layer_rows(family, teacher, task, s, progress)
    bert = [] if s["skip_bert"] else bert_rows(s, data_dir, progress)
    result = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "kind": "harness-pruning-benchmark",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}",
        "data": task.data_id,
        "train_examples": train_examples,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()},
        "dense": {"quality": dense_q, **dense_cost},
        "oneshot": oneshot,
        "scoring": scoring,
        "recovery": recovery,
        "layers": layers,
        "bert_base": bert,
    }
    result["checks"] = checks(result)
    out = Path(args.out)
    atomic_write_text(out / f"{RESULT_NAME}.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / f"{RESULT_NAME}.md", markdown(result))
    log(f"wrote {out / (RESULT_NAME + '.json')} and .md")
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example:\n  .venv/bin/python benchmarks/prune_minilm_sst2.py --data /work/shared/data/sst2")
    p.add_argument("--data", help="SST-2 directory (train.tsv, dev.tsv); default $HARNESS_DATA_DIR")
    p.add_argument("--quick", action="store_true", help="tiny model and budgets: seconds, for tests")
    p.add_argument("--out", default=str(REPO / "results" / "pruning"), help="output directory (default results/pruning)")
    p.add_argument("--cache-dir", help="dense fine-tuning cache (default $HARNESS_CACHE_DIR/finetune)")
    p.add_argument("--max-train", type=int, help="training examples subsampled (default 8192)")
    p.add_argument("--max-eval", type=int, help="dev examples (default all 872)")
    p.add_argument("--dense-steps", type=int, help="dense fine-tuning steps (default 600, batch 32)")
    p.add_argument("--sparsities", help="one-shot sparsities, comma-separated (default 0.5,0.7,0.8,0.9)")
    p.add_argument("--movement-steps", type=int, help="movement's warm-up steps (one-shot: its scoring fine-tune; default 100)")
    p.add_argument("--movement-variants", default=None, help="movement recovery runs (default both: hard,soft)")
    p.add_argument("--num-grads", type=int, help="gradients for the MiniLM Fisher (default 256, batch 8)")
    p.add_argument("--recovery-steps", type=int, help="fine-tuning steps after the last pruning step (default 300, batch 16, lr 1e-4)")
    p.add_argument("--recovery-span", type=int, help="steps over which the cubic schedule rises (default 300)")
    p.add_argument("--recovery-every", type=int, help="oBERT-shaped runs: steps between pruning steps (default 100)")
    p.add_argument("--movement-every", type=int, help="movement: steps between mask updates (default 10)")
    p.add_argument("--recovery-methods", default=None, help="methods given recovery + KD (default all: magnitude,movement,second-order)")
    p.add_argument("--recovery-oneshot", action="store_true", help="recovery runs prune to 80%% at once instead of gradually")
    p.add_argument("--skip-layers", action="store_true", help="leave out the layer-dropping runs")
    p.add_argument("--no-compound", action="store_true", help="layer dropping without the following second-order prune")
    p.add_argument("--bert-budget-gb", type=float, help="inverse-Fisher memory budget for BERT-base (default 4)")
    p.add_argument("--skip-bert", action="store_true", help="leave out the BERT-base cost runs")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from harness.foundation.errors import HarnessError

    try:
        run(args)
    except HarnessError as exc:
        print(f"prune_minilm_sst2: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
