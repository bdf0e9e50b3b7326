"""Pruned decision trees on disk: DIR/tree.npz (the tree's arrays) + DIR/manifest.json.

The manifest's typed form, its versions and their migrations are harness.contracts.manifest
(TreeVariantManifest).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness import __version__
from harness.contracts.manifest import TREE_VARIANT_KIND, TreeVariantManifest
from harness.foundation.fsutil import atomic_write_dir
from harness.foundation.pathchecks import check_replaceable_output
from harness.models.tree_data import arrays_hash, estimator_from_arrays, load_tree_file, save_npz, tree_arrays

from .manifest import MANIFEST_FILE, manifest_kind, read_checked_manifest

TREE_VARIANT_SCHEMA_VERSION = TreeVariantManifest.SCHEMA_VERSION
TREE_FILE = "tree.npz"
# manifest keys left out of the variant id: the same tree written twice keeps its id
_VOLATILE_KEYS = ("created_at", "harness_version")


def variant_id_of(manifest: dict, arrays: dict) -> str:
    """The tree variant id: a hash of the manifest as stored (without its timestamps) and of the tree's arrays."""
    stable = {k: v for k, v in manifest.items() if k not in _VOLATILE_KEYS}
    h = hashlib.sha256(json.dumps(stable, sort_keys=True, separators=(",", ":")).encode())
    h.update(arrays_hash(arrays).encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class TreeVariant:
    """A loaded tree variant: the rebuilt estimator, its manifest and id."""

    model_name: str
    estimator: object
    manifest: TreeVariantManifest
    variant_id: str
    path: str


def is_tree_variant(path) -> bool:
    return manifest_kind(path) == TREE_VARIANT_KIND


def read_tree_manifest(path) -> tuple[dict, TreeVariantManifest]:
    """(the manifest as stored, its typed form) of the tree variant at `path`; one line when it cannot be read."""
    return read_checked_manifest(path, what="tree variant", cls=TreeVariantManifest, payload=TREE_FILE)


def tree_variant_id(path) -> str:
    """Short hash of the manifest (without its timestamps) and the tree's arrays, the same on every load."""
    p = Path(path)
    return variant_id_of(read_tree_manifest(p)[0], load_tree_file(p / TREE_FILE))


def load_tree_variant(path) -> TreeVariant:
    p = Path(path)
    stored, manifest = read_tree_manifest(p)
    arrays = load_tree_file(p / TREE_FILE)
    return TreeVariant(
        model_name=manifest.model, estimator=estimator_from_arrays(arrays), manifest=manifest,
        variant_id=variant_id_of(stored, arrays), path=str(p),
    )


def is_tree_variants_dir(path) -> bool:
    """A directory `harness trees` filled: nothing in it but tree variant directories (and their temporary names)."""
    entries = [e for e in Path(path).iterdir() if not e.name.startswith(".")]
    return bool(entries) and all(e.is_dir() and is_tree_variant(e) for e in entries)


def save_tree_variant(estimator, manifest: dict, out_dir) -> Path:
    """Write tree.npz + manifest.json into out_dir, replacing a previous variant there, all or nothing."""
    import sklearn


    out = check_replaceable_output(out_dir, "--variants", what="a tree variant directory", owned=is_tree_variant)
    full = {"schema_version": TREE_VARIANT_SCHEMA_VERSION, "kind": TREE_VARIANT_KIND,
            **{k: v for k, v in manifest.items() if k not in ("schema_version", "kind")},
            "model_file": TREE_FILE, "sklearn_version": sklearn.__version__}
    full.setdefault("created_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    full.setdefault("harness_version", __version__)

    def fill(tmp: Path) -> None:
        save_npz(tree_arrays(estimator), tmp / TREE_FILE)
        (tmp / MANIFEST_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")

    return atomic_write_dir(out, fill)
