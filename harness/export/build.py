"""The torch model a configuration names: the family's dense model, a variant, or a local checkpoint."""

from __future__ import annotations

import os

from harness.contracts import BenchConfig
from harness.models.registry import family_for
from harness.variants.neural import load_variant


def build_model(model_name: str, variant: str | None, checkpoint: str | None = None):
    """(family, torch model in eval mode, variant manifest (typed) or None, variant id or None)."""
    family = family_for(model_name, checkpoint)
    if variant:
        v = load_variant(variant, model=model_name)
        return family, v.model.eval(), v.manifest, v.variant_id
    from harness.models.base import quiet_transformers

    quiet_transformers()
    allow_pickle = os.environ.get("HARNESS_ALLOW_PICKLE") == "1"
    model = family.load_checkpoint(checkpoint, allow_pickle=allow_pickle) if checkpoint else family.build()
    return family, model, None, None


def load_torch_model(config: BenchConfig):
    """The positional-forward torch module a torch-based worker runs (the same weights as the export)."""
    from harness.models.base import ExportWrapper

    family, model, _, _ = build_model(config.model, config.variant, config.checkpoint)
    return ExportWrapper(model, family.input_names).eval()
