"""Pruning: criterion (what to remove) x structure (which shape) x schedule (how much, when).

    criteria.py          magnitude, movement, second-order scores (higher = keep)
    obs.py               block-diagonal inverse empirical Fisher (Sherman-Morrison), OBS saliency and update
    structures.py        unstructured (global / per layer), block4, 2:4 masks from scores
    schedules.py         cubic and one-shot sparsity as pure functions of the step
    masks.py             keep-masks: layout, application, realised sparsity
    movement.py          movement pruning during fine-tuning (Sanh et al. 2020): hard and soft, masks in the forward
    second_order_step.py one second-order pruning step under a memory budget
    loop.py              the Pruner: one-shot or gradual, recovery fine-tuning with distillation
    pruner.py            make_variant: dense preparation, stage chains, starting from a variant, the manifest
    peak_rss.py          peak resident memory of a block of work
    recipes.py           the YAML recipe format and its validation (pydantic)
    structured.py        heads / neurons / channels / layers chosen and removed physically
                         (what a unit is and how it is sliced: harness.variants.architecture)
    depth.py             whole encoder layers: which to keep
    training.py          fine-tuning, distillation, evaluation, gradients

This module holds only the names of the choices, so the CLI can list them without importing torch.
"""

METHODS = ("magnitude", "movement", "second-order")
MASK_STRUCTURES = ("unstructured", "block4", "2:4")
UNIT_STRUCTURES = ("heads", "neurons", "channels", "layers")
STRUCTURES = MASK_STRUCTURES + UNIT_STRUCTURES
SCOPES = ("global", "per-layer")
SCHEDULE_KINDS = ("oneshot", "cubic")
MOVEMENT_VARIANTS = ("hard", "soft")
LAYER_SELECTS = ("alternate", "first", "last", "score")
