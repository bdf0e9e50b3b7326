"""Variants: a pruned model on disk, DIR/model.safetensors + DIR/manifest.json.

The manifest's typed form, its versions and their migrations are harness.contracts.manifest
(VariantManifest); every reader here and above uses the typed form.

A variant directory is written to a temporary sibling and renamed into place, so a reader sees either
the old variant, the new one, or nothing; never half of one. Its id is a short hash of the manifest as
stored and the weight file's bytes, the same on every load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import __version__
from harness.contracts.manifest import VARIANT_KIND, VariantManifest
from harness.foundation.errors import HarnessError
from harness.foundation.fsutil import atomic_write_dir
from harness.foundation.pathchecks import check_replaceable_output
from harness.models.registry import MODELS, family_for

from .manifest import MANIFEST_FILE, manifest_kind, read_checked_manifest

VARIANT_SCHEMA_VERSION = VariantManifest.SCHEMA_VERSION
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class Variant:
    """A loaded variant: the model in eval mode, its manifest and its id."""

    model_name: str
    model: Any  # torch.nn.Module
    manifest: VariantManifest
    variant_id: str
    path: str
    checkpoint: str | None = None  # the local checkpoint the variant was made from, if any


def is_variant(path) -> bool:
    """Whether `path` holds a variant of this kind (what `harness prune --out` may replace)."""
    return manifest_kind(path) == VARIANT_KIND


def save_variant(model, family_name: str, manifest: dict, out_dir) -> Path:
    """Write model weights and manifest to out_dir (replacing a previous variant there); return the path."""
    from safetensors.torch import save_model  # lazy: keeps `import harness.variant` light


    out = check_replaceable_output(out_dir, "--out", what="a variant directory", owned=is_variant)
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


def read_manifest(path) -> VariantManifest:
    """The typed manifest of the variant at `path` (any readable version); one line when it cannot be read."""
    return read_checked_manifest(path, what="variant", cls=VariantManifest, payload=WEIGHTS_FILE)[1]


def variant_id(path) -> str:
    """Short hash of the manifest as stored (canonical JSON) and the weight file's bytes."""
    p = Path(path)
    stored, _ = read_checked_manifest(p, what="variant", cls=VariantManifest, payload=WEIGHTS_FILE)
    h = hashlib.sha256()
    h.update(json.dumps(stored, sort_keys=True, separators=(",", ":")).encode())
    with open(p / WEIGHTS_FILE, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def variant_family(manifest: VariantManifest, path, model: str | None = None):
    """The family a variant's manifest names (a zoo family, or the checkpoint it was made from), checked against
    the model it is used with."""
    p = Path(path)
    if model is not None and manifest.model != model:
        raise HarnessError(f"variant {str(p)!r} was made from model {manifest.model!r}, not {model!r}")
    if manifest.model not in MODELS and not manifest.checkpoint:
        raise HarnessError(f"{p / MANIFEST_FILE}: model {manifest.model!r} is not a known model family; "
                           f"valid: {', '.join(MODELS)}")
    if manifest.checkpoint and not Path(manifest.checkpoint).is_dir():
        raise HarnessError(f"variant {str(p)!r} was made from checkpoint {manifest.checkpoint!r}, which does not exist")
    return family_for(manifest.model, manifest.checkpoint)


def _fit(model, weights, p: Path, name: str, *, assign: bool = False) -> None:
    """Load `weights` ({name: tensor}) into `model` strictly; one line when they do not fit."""
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False, assign=assign)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"variant {str(p)!r}: weights do not fit model {name}: "
                           f"{first.replace('Error(s) in loading state_dict for ', '')[:300]}") from None
    shared: dict[int, list[str]] = {}  # tied weights are stored once (safetensors' save_model)
    for n, t in model.named_parameters(remove_duplicate=False):
        shared.setdefault(id(t), []).append(n)
    aliases = {n: names for names in shared.values() for n in names}
    missing = [k for k in missing if not any(a in weights for a in aliases.get(k, ()))]
    if missing or unexpected:
        which, names = ("missing", missing) if missing else ("unexpected", unexpected)
        raise HarnessError(f"variant {str(p)!r}: weights do not fit model {name}: {len(names)} weights {which} "
                           f"(first: {names[0]})")


def _replay(model, family, manifest: VariantManifest, p: Path) -> None:
    """Slice the dense `model` to the manifest's architecture; a mismatch names the manifest file."""
    from .architecture import apply_architecture  # lazy: torch

    if manifest.architecture is not None:
        try:
            apply_architecture(model, family, manifest.architecture)
        except HarnessError as exc:
            raise HarnessError(f"{p / MANIFEST_FILE}: {exc}") from None


def check_variant(path, model: str | None = None) -> VariantManifest:
    """Everything loading the variant at `path` would find wrong, found before any work and without reading its
    weights' data: the manifest (typed, any readable version), the model it was made from against the one it is used
    with, the architecture against that model, the weight file's safetensors header covering
    the file, and every tensor's name and shape (the model is built and sliced on the meta device)."""
    import torch

    from harness.models.checkpoint import weight_shapes

    p = Path(path)
    manifest = read_manifest(p)
    family = variant_family(manifest, p, model)
    state = weight_shapes(p, what="variant")
    with torch.device("meta"):
        dense = family.model_class()(family.make_config())
    _replay(dense, family, manifest, p)
    _fit(dense, state, p, manifest.model, assign=True)
    return manifest


def load_variant(path, model: str | None = None) -> Variant:
    """Build the family's dense model, replay any structural change, load the weights strictly. With `model`, a
    variant made from another model is refused in one line."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    manifest = read_manifest(p)
    family = variant_family(manifest, p, model)
    dense = family.build()
    _replay(dense, family, manifest, p)
    try:
        weights = load_file(str(p / WEIGHTS_FILE))
    except (SafetensorError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"variant file {str(p / WEIGHTS_FILE)!r} is not a readable safetensors file: {first}") from None
    _fit(dense, weights, p, manifest.model)
    dense.eval()
    return Variant(model_name=manifest.model, model=dense, manifest=manifest, variant_id=variant_id(p), path=str(p),
                   checkpoint=manifest.checkpoint)
