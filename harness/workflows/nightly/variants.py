"""The suites' pruned variants: made once per model and name, then reused from the cache night after night.

"magnitude-NN" is one-shot global unstructured magnitude pruning to NN% zeros without fine-tuning, made by
harness.workflows.sweep.make_magnitude_variant (the pruning library's make_variant with a one-shot recipe). Its
manifest records the recipe, the realised sparsity and the quality the pruning library measures: top-1
agreement (and KL divergence) of the pruned model with the dense one on seeded generated inputs labelled
by the dense model (harness.tasks.teacher).

Reusing the directory keeps the variant's id, hence the records' identity (config_hash), the same from
night to night, which is what `harness regressions` matches on; the directory's name is the suite's variant
name, which is what records and charts show.
"""

from __future__ import annotations

from pathlib import Path

from harness.foundation.errors import ConfigError
from harness.foundation.machine import cache_dir
from harness.variants.manifest import MANIFEST_FILE

from ..sweep import make_magnitude_variant
from .suites import parse_variant

# 1: pruned by hand here, quality on 32 seeded inputs at the suite's length
# 2: made by harness.workflows.sweep.make_magnitude_variant; quality on the pruning library's teacher task
VARIANT_RECIPE_VERSION = 2


def variant_dir(model: str, spec: str, cache: Path | None = None) -> Path:
    """Where the suite variant `spec` of `model` is kept."""
    return Path(cache or cache_dir()) / "asv-variants" / f"{model}-r{VARIANT_RECIPE_VERSION}" / spec


def ensure_variant(model: str, spec: str, cache: Path | None = None) -> Path:
    """The directory of the suite variant `spec` of `model`, made the first time it is asked for."""
    sparsity = parse_variant(spec)
    if sparsity is None:
        raise ConfigError("'dense' is not a pruned variant; valid: magnitude-NN (NN = 1..99, percent zeros)")
    out = variant_dir(model, spec, cache)
    if (out / MANIFEST_FILE).is_file():  # variants are swapped in whole: a manifest means a complete one
        return out
    return make_magnitude_variant(model, sparsity, out)
