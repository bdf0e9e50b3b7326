"""The layers of the package, lowest first. A module may import its own layer and the layers below it,
never one above; registry strings ("harness.x.y:Class") count as imports. tests/test_layers.py checks
every module of the package against this table and fails on an upward import or an import cycle.

Standard library only, imports nothing: the table is data.
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("contracts", ("harness", "harness.contracts", "harness.layers")),
    ("foundation", ("harness.foundation",)),
    ("domain", ("harness.models", "harness.tasks", "harness.pricing")),
    ("variants", ("harness.variants",)),
    ("compression", ("harness.pruning", "harness.quantization")),
    ("export", ("harness.export",)),
    ("backends", ("harness.backends",)),
    ("runner", ("harness.runner",)),
    ("results", ("harness.results",)),
    ("measure", ("harness.measure",)),
    ("workflows", ("harness.workflows",)),
    ("commands", ("harness.commands",)),
    ("cli", ("harness.cli",)),
)


def layer_of(module: str) -> int | None:
    """Index of the layer that holds `module` (longest matching prefix), or None when no layer does."""
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            nested = "." in prefix and module.startswith(prefix + ".")  # the bare package name matches itself only
            if (module == prefix or nested) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def layer_name(index: int) -> str:
    return LAYERS[index][0]
