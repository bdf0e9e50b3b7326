"""Pruning quality and cost: MiniLM (all-MiniLM-L6-v2) on SST-2, plus the cost of pruning BERT-base.

    .venv/bin/python benchmarks/prune_minilm_sst2.py --data /path/to/sst2            # full (about an hour on 2 cores)
    .venv/bin/python benchmarks/prune_minilm_sst2.py --quick                          # tiny model, seconds

What it measures (all on the SST-2 dev split, 872 sentences, unless --max-eval):
  1. dense: MiniLM fine-tuned on (a seeded subsample of) the training split; dev accuracy.
  2. one-shot curves: 50/70/80/90% global unstructured sparsity of the encoder's Linear weights, no
     retraining, for magnitude (|w|), movement (S = -sum g*w gathered during a short fine-tune from the
     dense model, whose weights the pruned model then keeps) and second-order (OBS with the block-diagonal
     empirical Fisher; one Fisher estimate shared by every sparsity, as oBERT's one-shot curves do).
  3. recovery: each method to 80% with the same training budget and distillation from the dense model
     (hardness 1, temperature 2), through harness.pruning.pruner.Pruner: by default oBERT's shape, 70% at
     once, cubic to 80% over 300 steps pruning every 100, then 300 steps of fine-tuning (--recovery-oneshot:
     80% at once, then the fine-tuning steps).
     The claim checked: second-order keeps >= 98% of dense dev accuracy.
  4. cost of pruning BERT-base (110M parameters; 85M prunable): one-shot magnitude to 90%, and one-shot
     second-order to 90% under a memory budget for the inverse Fisher (default 4 GB; all of it at once
     would need about 17 GB), with the process's peak RSS.
Every prune reports wall time and the process's peak RSS during it. Results go to
results/pruning/prune_minilm_sst2.json and .md (written to a temporary file, then renamed).
This is a script, not an asv suite: it trains models for many minutes, which asv's timing harness is not for.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

RESULT_SCHEMA_VERSION = 1  # 1 - first version: settings, dense, oneshot, recovery, bert_base, checks
RESULT_NAME = "prune_minilm_sst2"
METHODS = ("magnitude", "movement", "second-order")


def settings_for(args) -> dict:
    """The run's settings: full defaults, or tiny ones with --quick; explicit flags win."""
    full = dict(model="minilm", bert_model="bert-base", max_train=8192, max_eval=None, seq_len=64,
                dense_steps=600, dense_batch=32, dense_lr=5e-5, sparsities=(0.5, 0.7, 0.8, 0.9),
                movement_steps=100, num_grads=256, grad_batch=8, block_size=50, damping=1e-7,
                recovery_sparsity=0.8, recovery_schedule="cubic", recovery_initial=0.7, recovery_span=300,
                recovery_every=100, recovery_steps=300, recovery_batch=16, recovery_lr=1e-4,
                bert_num_grads=32, bert_budget_gb=4.0, bert_seq_len=64, bert_sparsity=0.9, seed=0)
    quick = dict(full, model="minilm-tiny", bert_model="bert-tiny", max_train=64, max_eval=32, seq_len=32,
                 dense_steps=4, dense_batch=8, sparsities=(0.5, 0.8), movement_steps=2, num_grads=4,
                 grad_batch=4, recovery_span=2, recovery_every=1, recovery_steps=2, recovery_batch=4, bert_num_grads=2, bert_budget_gb=0.002,
                 bert_seq_len=16)
    s = quick if args.quick else full
    for key in ("max_train", "max_eval", "dense_steps", "num_grads", "recovery_steps", "movement_steps", "bert_budget_gb", "seed"):
        value = getattr(args, key, None)
        if value is not None:
            s[key] = value
    if args.sparsities:
        s["sparsities"] = tuple(float(x) for x in args.sparsities.split(","))
    s["skip_bert"] = bool(args.skip_bert)
    s["recovery_methods"] = tuple(args.recovery_methods.split(",")) if args.recovery_methods else METHODS
    unknown = [m for m in s["recovery_methods"] if m not in METHODS]
    if unknown:
        raise SystemExit(f"prune_minilm_sst2: error: --recovery-methods: unknown method {unknown[0]!r}; valid: {', '.join(METHODS)}")
    if getattr(args, "recovery_oneshot", False):
        s["recovery_schedule"] = "oneshot"
    return s


class Clock:
    """Wall time and peak RSS of one step."""

    def __init__(self):
        from harness.pruning.pruner import PeakRSS

        self.rss = PeakRSS()

    def __enter__(self):
        self.rss.__enter__()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall_time_s = round(time.perf_counter() - self.t0, 3)
        self.rss.__exit__(*exc)
        self.peak_rss_bytes = self.rss.peak_rss_bytes
        return False


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def quality(model, task, dense) -> dict:
    from harness.pruning.training import evaluate

    q = evaluate(model, task, teacher=dense)
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in q.items()}


def oneshot_rows(family, dense, task, s: dict, progress: bool) -> tuple[list, dict]:
    """One-shot curves for every method; scores computed once per method and reused for each sparsity."""
    import torch

    from harness.pruning.criteria import Magnitude, Movement, SecondOrder
    from harness.pruning.masks import apply_masks, param_names, sparsity_report
    from harness.pruning.pruner import _Observe
    from harness.pruning.structures import make_structure
    from harness.pruning.training import collect_gradients, train
    from harness.pruning.obs import WOODBURY_BATCH

    structure = make_structure("unstructured")
    rows, scoring = [], {}
    for method in METHODS:
        base = student(dense)
        layers = family.prunable_layers(base)
        with Clock() as c:
            if method == "magnitude":
                criterion = Magnitude()
            elif method == "movement":
                criterion = Movement(layers)
                train(base, task, steps=s["movement_steps"], lr=s["recovery_lr"], batch_size=s["recovery_batch"],
                      seed=s["seed"], teacher=dense, callbacks=[_Observe(criterion)], progress=progress)
            else:
                criterion = SecondOrder(layers, block_size=s["block_size"], damping=s["damping"], num_grads=s["num_grads"])
                pnames = param_names(base, layers)
                params = {pnames[n]: m.weight for n, m in layers.items()}
                grads = collect_gradients(base, task, count=s["num_grads"], batch_size=s["grad_batch"], seed=s["seed"], params=params)
                if progress:
                    from tqdm import tqdm

                    grads = tqdm(grads, total=s["num_grads"], desc="gradients", file=sys.stderr, leave=False)
                buffer = []
                for g in grads:  # fold WOODBURY_BATCH gradients at a time into every layer's inverse
                    buffer.append(g)
                    if len(buffer) == WOODBURY_BATCH:
                        _fold(criterion, buffer, pnames)
                        buffer = []
                _fold(criterion, buffer, pnames)
        scoring[method] = {"wall_time_s": c.wall_time_s, "peak_rss_bytes": c.peak_rss_bytes,
                           "what": {"magnitude": "none", "movement": f"{s['movement_steps']} fine-tuning steps",
                                    "second-order": f"inverse Fisher from {s['num_grads']} gradients"}[method]}
        log(f"{method}: scores ready in {c.wall_time_s:.1f} s")
        for sparsity in s["sparsities"]:
            model = copy.deepcopy(base)
            player = family.prunable_layers(model)
            with Clock() as c:
                weights = {n: m.weight.detach() for n, m in player.items()}
                masks = structure.masks(criterion, weights, sparsity, "global")
                if method == "second-order":
                    with torch.no_grad():
                        for n, m in player.items():
                            m.weight.copy_(criterion.update(n, m.weight, masks[n]))
                apply_masks(player, masks)
            q = quality(model, task, dense)
            rows.append({"method": method, "sparsity": sparsity, "realised": sparsity_report(player)["overall"],
                         "prune_wall_time_s": c.wall_time_s, "peak_rss_bytes": c.peak_rss_bytes, **q})
            log(f"one-shot {method} {sparsity:.0%}: " + _fmt(q))
            del model
        del base, criterion
    return rows, scoring


def student(dense):
    """A trainable copy of the (frozen) dense model."""
    model = copy.deepcopy(dense)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def _fold(criterion, buffer: list, pnames: dict) -> None:
    """Fold a buffer of {param name: grad} dicts into the criterion's inverse Fishers (one Woodbury step)."""
    for lname, pname in pnames.items():
        criterion.accumulate_batch(lname, [g[pname] for g in buffer])


def _fmt(q: dict) -> str:
    parts = [f"acc {q['accuracy']:.4f}" if "accuracy" in q else None, f"agree {q['top1_agreement']:.4f}",
             f"KL {q['kl_dense_pruned']:.4f}" if "kl_dense_pruned" in q else None]
    return ", ".join(p for p in parts if p)


def recovery_rows(family, dense, task, s: dict, progress: bool) -> list:
    """Each method to the recovery sparsity with the same training budget and distillation.

    cubic (default, oBERT's shape): s_i at the first step, cubic to the target over recovery_span steps
    pruning every recovery_every, the learning rate restarting at each pruning step, then recovery_steps
    of fine-tuning. oneshot: the target at once, then recovery_steps. Movement first gathers its scores
    over movement_steps of fine-tuning.
    """
    from harness.pruning.pruner import Pruner
    from harness.pruning.recipes import Recipe

    rows = []
    for method in s["recovery_methods"]:
        schedule = {"kind": s["recovery_schedule"], "warmup_steps": s["movement_steps"] if method == "movement" else 0}
        if s["recovery_schedule"] == "cubic":
            schedule.update(steps=s["recovery_span"], prune_every=s["recovery_every"], initial_sparsity=s["recovery_initial"])
        recipe = Recipe.from_dict({
            "method": method, "structure": "unstructured", "sparsity": s["recovery_sparsity"], "scope": "global",
            "schedule": schedule,
            "finetune": {"steps": s["recovery_steps"], "lr": s["recovery_lr"], "batch_size": s["recovery_batch"]},
            "distillation": {"temperature": 2.0, "hardness": 1.0},
            "second_order": {"block_size": s["block_size"], "num_grads": s["num_grads"], "damping": s["damping"],
                             "grad_batch_size": s["grad_batch"]},
            "seed": s["seed"],
        }).resolved()
        model = student(dense)
        outcome = Pruner(family, recipe, task=task, teacher=dense, progress=progress).run(model)
        q = quality(outcome.model, task, dense)
        rows.append({"method": method, "sparsity": s["recovery_sparsity"], "realised": outcome.realised_sparsity["overall"],
                     "train_steps": outcome.train_steps, "recipe": recipe.to_dict(), "recipe_hash": recipe.hash(),
                     "history": outcome.history, "prune_wall_time_s": outcome.wall_time_s,
                     "peak_rss_bytes": outcome.peak_rss_bytes, **q})
        log(f"recovered {method} {s['recovery_sparsity']:.0%} ({outcome.train_steps} steps, {outcome.wall_time_s:.0f} s): " + _fmt(q))
        del model, outcome
    return rows


def bert_rows(s: dict, data_dir, progress: bool) -> list:
    """Cost of pruning BERT-base: magnitude 90% and second-order 90% under a memory budget."""
    import gc

    from harness.pruning.obs import BlockFisherInverse
    from harness.pruning.pruner import Pruner
    from harness.pruning.recipes import Recipe
    from harness.models.registry import model_family
    from harness.tasks import make_task

    family = model_family(s["bert_model"])
    dense = family.build(seed=s["seed"]).eval()
    for p in dense.parameters():
        p.requires_grad_(False)
    if data_dir:
        task = make_task(family, data_dir, seed=s["seed"], max_train=s["max_train"], max_eval=64, seq_len=s["bert_seq_len"])
    else:
        task = make_task(family, None, teacher=dense, seed=s["seed"], max_eval=64, seq_len=s["bert_seq_len"])
    prunable = sum(m.weight.numel() for m in family.prunable_layers(dense).values())
    rows = []
    for method in ("magnitude", "second-order"):
        recipe = Recipe.from_dict({
            "method": method, "structure": "unstructured", "sparsity": s["bert_sparsity"], "scope": "global",
            "second_order": {"block_size": s["block_size"], "num_grads": s["bert_num_grads"], "damping": s["damping"],
                             "grad_batch_size": s["grad_batch"], "memory_budget_gb": s["bert_budget_gb"]},
            "seed": s["seed"],
        }).resolved()
        model = student(dense)
        gc.collect()
        pruner = Pruner(family, recipe, task=task, teacher=dense, progress=progress)
        outcome = pruner.run(model)
        row = {"model": s["bert_model"], "method": method, "sparsity": s["bert_sparsity"],
               "realised": outcome.realised_sparsity["overall"], "prunable_weights": prunable,
               "prune_wall_time_s": outcome.wall_time_s, "peak_rss_bytes": outcome.peak_rss_bytes,
               "data": task.data_id}
        if method == "second-order":
            need = BlockFisherInverse.nbytes_for(prunable, s["block_size"])
            row.update({"num_grads": s["bert_num_grads"], "memory_budget_gb": s["bert_budget_gb"],
                        "fisher_bytes_unbudgeted": need, "layer_groups": len(_groups(family, model, recipe))})
        rows.append(row)
        log(f"{s['bert_model']} {method} {s['bert_sparsity']:.0%}: {outcome.wall_time_s:.0f} s, peak RSS {outcome.peak_rss_bytes / 2**30:.2f} GiB")
        del model, outcome, pruner
    return rows


def _groups(family, model, recipe):
    from harness.pruning.obs import plan_groups

    numels = {n: m.weight.numel() for n, m in family.prunable_layers(model).items()}
    return plan_groups(numels, block_size=recipe.second_order.block_size,
                       budget_bytes=int(recipe.second_order.memory_budget_gb * 1e9))


def markdown(result: dict) -> str:
    s, d = result["settings"], result["dense"]
    acc = d["quality"].get("accuracy")
    lines = [f"# Pruning {s['model']} on {result['data']}", "",
             f"{result['created_at']}, {result['machine']}. Training subsample: {result['train_examples']} "
             f"examples (max_train={s['max_train']}); dev examples: {d['quality']['n']}.", "",
             f"Dense fine-tune: {s['dense_steps']} steps, batch {s['dense_batch']}, lr {s['dense_lr']}: "
             + (f"dev accuracy **{acc:.4f}**" if acc is not None else "no labels (teacher task)")
             + f" ({d['wall_time_s']:.0f} s, cached after the first run).", "",
             "## One-shot (no retraining), global unstructured", "",
             "| method | sparsity | realised | dev acc | top-1 agreement | KL(dense‖pruned) | prune s | peak RSS GiB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["oneshot"]:
        lines.append(f"| {r['method']} | {r['sparsity']:.2f} | {r['realised']:.4f} | {_acc(r)} | {r['top1_agreement']:.4f} | "
                     f"{r.get('kl_dense_pruned', float('nan')):.4f} | {r['prune_wall_time_s']:.2f} | {r['peak_rss_bytes'] / 2**30:.2f} |")
    lines += ["", "Scores computed once per method, shared by its sparsities:", ""]
    for m, sc in result["scoring"].items():
        lines.append(f"- {m}: {sc['what']}, {sc['wall_time_s']:.1f} s, peak RSS {sc['peak_rss_bytes'] / 2**30:.2f} GiB")
    if s["recovery_schedule"] == "cubic":
        how = (f"{s['recovery_initial']:.0%} at once, cubic to {s['recovery_sparsity']:.0%} over {s['recovery_span']} steps "
               f"(pruning every {s['recovery_every']}), then {s['recovery_steps']} recovery steps")
    else:
        how = f"one-shot to {s['recovery_sparsity']:.0%}, then {s['recovery_steps']} recovery steps"
    lines += ["", f"## Recovery: {how}; KD from the dense model (T=2, hardness 1), batch {s['recovery_batch']}, "
              f"lr {s['recovery_lr']} restarting at each pruning step", "",
              "| method | realised | dev acc | % of dense | top-1 agreement | KL | wall s | peak RSS GiB |", "|---|---|---|---|---|---|---|---|"]
    for r in result["recovery"]:
        rel = f"{100 * r['accuracy'] / acc:.1f}%" if acc and "accuracy" in r else "-"
        lines.append(f"| {r['method']} | {r['realised']:.4f} | {_acc(r)} | {rel} | {r['top1_agreement']:.4f} | "
                     f"{r.get('kl_dense_pruned', float('nan')):.4f} | {r['prune_wall_time_s']:.0f} | {r['peak_rss_bytes'] / 2**30:.2f} |")
    if result["bert_base"]:
        lines += ["", "## Cost of pruning " + result["bert_base"][0]["model"], "",
                  "| method | sparsity | realised | wall s | peak RSS GiB | notes |", "|---|---|---|---|---|---|"]
        for r in result["bert_base"]:
            note = ""
            if r["method"] == "second-order":
                note = (f"{r['num_grads']} gradients, budget {r['memory_budget_gb']} GB in {r['layer_groups']} layer groups "
                        f"(all at once: {r['fisher_bytes_unbudgeted'] / 1e9:.1f} GB)")
            lines.append(f"| {r['method']} | {r['sparsity']:.2f} | {r['realised']:.4f} | {r['prune_wall_time_s']:.0f} | "
                         f"{r['peak_rss_bytes'] / 2**30:.2f} | {note} |")
    lines += ["", "## Checks", ""] + [f"- {'PASS' if c['ok'] else 'FAIL'}: {c['claim']} ({c['value']})" for c in result["checks"]]
    return "\n".join(lines) + "\n"


def _acc(r):
    return f"{r['accuracy']:.4f}" if "accuracy" in r else "-"


def checks(result: dict) -> list:
    out = []
    dense_acc = result["dense"]["quality"].get("accuracy")
    so = next((r for r in result["recovery"] if r["method"] == "second-order"), None)
    if dense_acc and so and "accuracy" in so:
        ratio = so["accuracy"] / dense_acc
        out.append({"claim": f"second-order at {so['sparsity']:.0%} with recovery + KD keeps >= 98% of dense dev accuracy",
                    "value": f"{ratio:.4f}", "ok": ratio >= 0.98})
    for r in result["oneshot"] + result["recovery"] + result["bert_base"]:
        if abs(r["realised"] - r["sparsity"]) > 0.005:
            out.append({"claim": f"{r['method']} realised sparsity within 0.5% of {r['sparsity']}", "value": r["realised"], "ok": False})
    big = [r for r in result["bert_base"] if r["method"] == "second-order"]
    for r in big:
        out.append({"claim": f"{r['model']} second-order peak RSS within 16 GB", "value": f"{r['peak_rss_bytes'] / 1e9:.2f} GB",
                    "ok": r["peak_rss_bytes"] <= 16e9})
    return out


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def run(args) -> dict:
    import torch

    from harness.pruning.training import finetune_dense
    from harness.pruning.pruner import default_cache_dir
    from harness.models.registry import model_family
    from harness.tasks import make_task, resolve_data_dir

    s = settings_for(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    data_dir = resolve_data_dir(args.data)
    if not data_dir and not args.quick:
        from harness.errors import HarnessError

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
        "bert_base": bert,
    }
    result["checks"] = checks(result)
    out = Path(args.out)
    write_atomic(out / f"{RESULT_NAME}.json", json.dumps(result, indent=2) + "\n")
    write_atomic(out / f"{RESULT_NAME}.md", markdown(result))
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
    p.add_argument("--movement-steps", type=int, help="fine-tuning steps that gather movement scores (default 100)")
    p.add_argument("--num-grads", type=int, help="gradients for the MiniLM Fisher (default 256, batch 8)")
    p.add_argument("--recovery-steps", type=int, help="fine-tuning steps after the last pruning step (default 300, batch 16, lr 1e-4)")
    p.add_argument("--recovery-methods", default=None, help="methods given recovery + KD (default all: magnitude,movement,second-order)")
    p.add_argument("--recovery-oneshot", action="store_true", help="recovery runs prune to 80%% at once instead of 70%% then cubic")
    p.add_argument("--bert-budget-gb", type=float, help="inverse-Fisher memory budget for BERT-base (default 4)")
    p.add_argument("--skip-bert", action="store_true", help="leave out the BERT-base cost runs")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from harness.errors import HarnessError

    try:
        run(args)
    except HarnessError as exc:
        print(f"prune_minilm_sst2: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
