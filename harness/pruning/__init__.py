"""Pruning: criterion (what to remove) x structure (which shape) x schedule (how much, when).

    criteria.py    magnitude, movement, second-order scores (higher = keep)
    obs.py         block-diagonal inverse empirical Fisher (Sherman-Morrison), OBS saliency and update
    structures.py  unstructured (global / per layer), block4, 2:4 masks from scores
    schedules.py   cubic and one-shot sparsity as pure functions of the step
    masks.py       keep-masks: layout, application, realised sparsity
    pruner.py      the loop (one-shot or gradual, recovery fine-tuning with distillation) and make_variant
    recipes.py     the YAML recipe format and its validation
    structured.py  heads / neurons / channels removed physically (P2)
    training.py    fine-tuning, distillation, evaluation, gradients (P2)

This module holds only the names of the choices, so the CLI can list them without importing torch.
"""

METHODS = ("magnitude", "movement", "second-order")
MASK_STRUCTURES = ("unstructured", "block4", "2:4")
UNIT_STRUCTURES = ("heads", "neurons", "channels")
STRUCTURES = MASK_STRUCTURES + UNIT_STRUCTURES
SCOPES = ("global", "per-layer")
SCHEDULE_KINDS = ("oneshot", "cubic")
