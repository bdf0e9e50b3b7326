"""Variants: a pruned model on disk, DIR/model.safetensors + DIR/manifest.json.

VARIANT_SCHEMA_VERSION history (manifest.json):
  1 - first version: schema_version, kind="harness-variant", model, method, structure, target_sparsity,
      realised_sparsity {overall, per_layer}, recipe, recipe_hash, seeds, data, wall_time_s,
      peak_rss_bytes, quality {dense, pruned}, architecture, created_at, harness_version.
      harness prune also records scope, history [{step, target, realised}], train_steps,
      prune_peak_rss_bytes and timings_s. For unit structures (heads, neurons, channels)
      realised_sparsity.overall is the fraction of units removed (what target_sparsity means there),
      with unit, weights_overall (fraction of prunable weights removed) and per_layer weight fractions.
  2 - regime (which pruning regime ran: one-shot, gradual, movement during fine-tuning), stages (a recipe
      chain) and source (a variant pruned again with --from) when present, realised_sparsity.weights_vs_dense,
      quality.start (with --from); architecture may be {"schema_version": 2, "steps": [...]} (several
      structural steps); base {"checkpoint", "checkpoint_id"} when the variant was made from a local
      checkpoint (its `model` is then the checkpoint's name). Version 1 manifests read unchanged.

A variant directory is written to a temporary sibling and renamed into place, so a reader sees either
the old variant, the new one, or nothing; never half of one. Its id is a short hash of the manifest and
the weight file's bytes, the same on every load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.foundation.errors import HarnessError
from harness.foundation.fsutil import atomic_write_dir

from .manifest import MANIFEST_FILE, read_checked_manifest

VARIANT_SCHEMA_VERSION = 2
READABLE_VARIANT_VERSIONS = (1, 2)
VARIANT_KIND = "harness-variant"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class Variant:
    """A loaded variant: the model in eval mode, its manifest and its id."""

    model_name: str
    model: Any  # torch.nn.Module
    manifest: dict
    variant_id: str
    path: str
    checkpoint: str | None = None  # the local checkpoint the variant was made from, if any


def base_of(manifest: dict) -> tuple[str | None, str | None]:
    """(model name, checkpoint directory or None) a variant was made from."""
    base = manifest.get("base") if isinstance(manifest.get("base"), dict) else {}
    return manifest.get("model"), base.get("checkpoint")


def save_variant(model, family_name: str, manifest: dict, out_dir) -> Path:
    """Write model weights and manifest to out_dir (replacing a previous variant there); return the path."""
    from safetensors.torch import save_model  # lazy: keeps `import harness.variant` light

    from harness import __version__

    out = Path(out_dir)
    if out.exists() and not (out / MANIFEST_FILE).is_file() and (not out.is_dir() or any(out.iterdir())):
        raise HarnessError(f"--out {str(out)!r} exists and is not a variant directory; choose an empty or new path")
    full = {
        "schema_version": VARIANT_SCHEMA_VERSION,
        "kind": VARIANT_KIND,
        "model": family_name,
        **{k: v for k, v in manifest.items() if k not in ("schema_version", "kind", "model")},
    }
    full.setdefault("created_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    full.setdefault("harness_version", __version__)
    text = json.dumps(full, indent=2, sort_keys=True, default=_json_default) + "\n"

    def fill(tmp: Path) -> None:
        save_model(model, str(tmp / WEIGHTS_FILE))
        (tmp / MANIFEST_FILE).write_text(text)

    return atomic_write_dir(out, fill)


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def read_manifest(path) -> dict:
    """The manifest of the variant at `path`, checked for kind and schema version."""
    return read_checked_manifest(path, what="variant", kind=VARIANT_KIND, versions=READABLE_VARIANT_VERSIONS,
                                 payload=WEIGHTS_FILE)


def variant_id(path) -> str:
    """Short hash of the manifest (canonical JSON) and the weight file's bytes."""
    p = Path(path)
    manifest = read_manifest(p)
    h = hashlib.sha256()
    h.update(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())
    with open(p / WEIGHTS_FILE, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_variant(path) -> Variant:
    """Build the family's dense model, replay any structural change, load the weights strictly."""
    from safetensors.torch import load_model

    from harness.models.registry import MODELS, family_for

    p = Path(path)
    manifest = read_manifest(p)
    name, checkpoint = base_of(manifest)
    if name not in MODELS and not checkpoint:
        raise HarnessError(f"{p / MANIFEST_FILE}: model {name!r} is not a known model family; valid: {', '.join(MODELS)}")
    family = family_for(name, checkpoint)
    model = family.build()
    architecture = manifest.get("architecture")
    if architecture:
        from .architecture import apply_architecture  # lazy: torch

        model = apply_architecture(model, family, architecture)
    try:
        load_model(model, str(p / WEIGHTS_FILE), strict=True)
    except (RuntimeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"variant {str(p)!r}: weights do not fit model {name}: {first}") from None
    model.eval()
    return Variant(model_name=name, model=model, manifest=manifest, variant_id=variant_id(p), path=str(p),
                   checkpoint=checkpoint)
