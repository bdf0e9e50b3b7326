"""Rows of the MiniLM/SST-2 pruning benchmark (benchmarks/prune_minilm_sst2.py): one-shot curves, recovery
runs with each method in its regime, layer dropping, and the cost of pruning BERT-base. Import-safe for asv:
nothing heavy is imported at module level."""

from __future__ import annotations

import copy
import sys
import time

METHODS = ("magnitude", "movement", "second-order")


class Clock:
    """Wall time and peak RSS of one step."""

    def __init__(self):
        from harness.pruning.peak_rss import PeakRSS

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
    from harness.pruning.loop import _Observe
    from harness.pruning.masks import apply_masks, param_names, sparsity_report
    from harness.pruning.obs import WOODBURY_BATCH
    from harness.pruning.structures import make_structure
    from harness.pruning.training import collect_gradients, train

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


def _recipe(s: dict, method: str, sparsity: float, schedule: dict, **extra):
    """A resolved single-stage recipe with the benchmark's training, distillation and Fisher settings."""
    from harness.pruning.recipes import Recipe

    return Recipe.from_dict({
        "method": method, "structure": "unstructured", "sparsity": sparsity, "scope": "global", "schedule": schedule,
        "finetune": {"steps": s["recovery_steps"], "lr": s["recovery_lr"], "batch_size": s["recovery_batch"]},
        "distillation": {"temperature": 2.0, "hardness": 1.0},
        "second_order": {"block_size": s["block_size"], "num_grads": s["num_grads"], "damping": s["damping"],
                         "grad_batch_size": s["grad_batch"]},
        "seed": s["seed"], **extra,
    }).resolved()


def recovery_recipes(s: dict) -> list:
    """(method, movement variant or None, recipe) for each recovery run.

    cubic (default): magnitude and second-order in oBERT's shape (s_i at the first step, cubic to the target
    over recovery_span steps pruning every recovery_every, the learning rate restarting at each pruning
    step, then recovery_steps of fine-tuning); movement in its published regime (Sanh et al. 2020), hard and
    soft: movement_steps of warm-up, cubic from 0 over recovery_span steps with the masks recomputed every
    movement_every steps, then recovery_steps of cool-down, in one fine-tuning run. oneshot: every method
    to the target at once (movement after gathering scores over movement_steps), then recovery_steps.
    """
    out = []
    for method in s["recovery_methods"]:
        if s["recovery_schedule"] == "oneshot":
            schedule = {"kind": "oneshot", "warmup_steps": s["movement_steps"] if method == "movement" else 0}
            out.append((method, None, _recipe(s, method, s["recovery_sparsity"], schedule)))
        elif method == "movement":
            for variant in s["movement_variants"]:
                schedule = {"kind": "cubic", "warmup_steps": s["movement_steps"], "steps": s["recovery_span"],
                            "prune_every": s["movement_every"], "initial_sparsity": 0.0}
                movement = {"variant": variant, "scores_lr": s["soft_scores_lr"],
                            "regularization": s["soft_lambda"] if variant == "soft" else 0.0}
                out.append((method, variant, _recipe(s, method, s["recovery_sparsity"], schedule, movement=movement)))
        else:
            schedule = {"kind": "cubic", "steps": s["recovery_span"], "prune_every": s["recovery_every"],
                        "initial_sparsity": s["recovery_initial"]}
            out.append((method, None, _recipe(s, method, s["recovery_sparsity"], schedule)))
    return out


def recovery_rows(family, dense, task, s: dict, progress: bool) -> list:
    """Each method to the recovery sparsity with recovery training and distillation from the dense model."""
    from harness.pruning.loop import Pruner

    rows = []
    for method, variant, recipe in recovery_recipes(s):
        model = student(dense)
        outcome = Pruner(family, recipe, task=task, teacher=dense, progress=progress).run(model)
        q = quality(outcome.model, task, dense)
        rows.append({"method": method, "variant": variant, "regime": recipe.regime, "sparsity": s["recovery_sparsity"],
                     "realised": outcome.realised_sparsity["overall"], "train_steps": outcome.train_steps,
                     "recipe": recipe.to_dict(), "recipe_hash": recipe.hash(), "history": outcome.history,
                     "prune_wall_time_s": outcome.wall_time_s, "peak_rss_bytes": outcome.peak_rss_bytes, **q})
        label = f"{method} ({variant})" if variant else method
        log(f"recovered {label} {s['recovery_sparsity']:.0%} ({outcome.train_steps} steps, {outcome.wall_time_s:.0f} s): " + _fmt(q))
        del model, outcome
    return rows


def layer_recipes(s: dict) -> list:
    """(name, recipe) of the layer-dropping runs: every other layer with KD recovery, and that followed by
    second-order pruning of the shallower model to the recovery sparsity in oBERT's shape."""
    from harness.pruning.recipes import Recipe

    layers = {"method": "magnitude", "structure": "layers", "sparsity": s["layers_sparsity"],
              "layers": {"select": "alternate"}, "seed": s["seed"],
              "finetune": {"steps": s["recovery_steps"], "lr": s["recovery_lr"], "batch_size": s["recovery_batch"]},
              "distillation": {"temperature": 2.0, "hardness": 1.0}}
    then = _recipe(s, "second-order", s["recovery_sparsity"], {
        "kind": "cubic", "steps": s["recovery_span"], "prune_every": s["recovery_every"],
        "initial_sparsity": s["recovery_initial"]}).model_dump(exclude={"dense", "data", "seed", "then"})
    out = [("layers", Recipe.from_dict(layers).resolved())]
    if s["compound"]:
        out.append(("layers+second-order", Recipe.from_dict({**layers, "then": then}).resolved()))
    return out


def layer_rows(family, dense, task, s: dict, progress: bool) -> list:
    """Layer dropping (and the compound chain) with recovery; each stage through the Pruner, as make_variant runs them."""
    from harness.pruning.loop import Pruner

    prunable = sum(m.weight.numel() for m in family.prunable_layers(dense).values())
    rows = []
    for name, recipe in layer_recipes(s):
        model, steps, wall, peak, stages, keep_zeros = student(dense), 0, 0.0, 0, [], False
        for stage in recipe.stages():
            outcome = Pruner(family, stage, task=task, teacher=dense, progress=progress, keep_zeros=keep_zeros).run(model)
            model, keep_zeros = outcome.model, keep_zeros or outcome.masks is not None
            steps, wall, peak = steps + outcome.train_steps, wall + outcome.wall_time_s, max(peak, outcome.peak_rss_bytes)
            target = outcome.architecture["target_sparsity"] if outcome.architecture else stage.sparsity
            stages.append({"structure": stage.structure, "method": stage.method, "sparsity": target,
                           "realised": outcome.realised_sparsity["overall"], "regime": stage.regime,
                           **({"layers_kept": next(iter(outcome.architecture["layers"].values()))["keep"]}
                              if stage.structure == "layers" else {})})
        nonzero = sum(int(m.weight.count_nonzero()) for m in family.prunable_layers(model).values())
        q = quality(model, task, dense)
        rows.append({"method": name, "sparsity": stages[-1]["sparsity"], "realised": stages[-1]["realised"],
                     "weights_vs_dense": round(1 - nonzero / prunable, 6), "stages": stages, "train_steps": steps,
                     "recipe": recipe.to_dict(), "recipe_hash": recipe.hash(), "prune_wall_time_s": round(wall, 3),
                     "peak_rss_bytes": peak, **q})
        log(f"{name}: layers kept {stages[0].get('layers_kept')}, {steps} steps, {wall:.0f} s: " + _fmt(q))
        del model
    return rows


def bert_rows(s: dict, data_dir, progress: bool) -> list:
    """Cost of pruning BERT-base: magnitude 90% and second-order 90% under a memory budget."""
    import gc

    from harness.models.registry import model_family
    from harness.pruning.loop import Pruner
    from harness.pruning.obs import BlockFisherInverse
    from harness.pruning.recipes import Recipe
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


