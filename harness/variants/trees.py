"""Pruned decision trees on disk: DIR/tree.npz (the tree's arrays) + DIR/manifest.json.

TREE_VARIANT_SCHEMA_VERSION history (manifest.json of a tree variant):
  1 - first version: schema_version, kind="harness-tree-variant", model, dataset, task, metric, seed,
      split, alpha, alpha_index, path_length, path_entries, chosen, leaves, depth, nodes, full_nodes,
      realised_sparsity {overall: fraction of the full tree's nodes pruned away},
      mean_decisions_per_item, metrics {train, test, cv, cv_std}, quality, method, structure,
      model_file, sklearn_version, created_at, harness_version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness.foundation.errors import HarnessError
from harness.foundation.fsutil import atomic_write_dir
from harness.models.tree_data import arrays_hash, estimator_from_arrays, load_tree_file, save_npz, tree_arrays

from .manifest import MANIFEST_FILE, manifest_kind, read_checked_manifest

TREE_VARIANT_SCHEMA_VERSION = 1
READABLE_TREE_VARIANT_VERSIONS = (1,)
TREE_VARIANT_KIND = "harness-tree-variant"
TREE_FILE = "tree.npz"
# manifest keys left out of the variant id: the same tree written twice keeps its id
_VOLATILE_KEYS = ("created_at", "harness_version")


def variant_id_of(manifest: dict, arrays: dict) -> str:
    """The tree variant id: a hash of the manifest without its timestamps and of the tree's arrays."""
    stable = {k: v for k, v in manifest.items() if k not in _VOLATILE_KEYS}
    h = hashlib.sha256(json.dumps(stable, sort_keys=True, separators=(",", ":")).encode())
    h.update(arrays_hash(arrays).encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class TreeVariant:
    """A loaded tree variant: the rebuilt estimator, its manifest and id."""

    model_name: str
    estimator: object
    manifest: dict
    variant_id: str
    path: str


def is_tree_variant(path) -> bool:
    return manifest_kind(path) == TREE_VARIANT_KIND


def read_tree_manifest(path) -> dict:
    """The manifest of the tree variant at `path`, checked for kind and schema version."""
    return read_checked_manifest(path, what="tree variant", kind=TREE_VARIANT_KIND,
                                 versions=READABLE_TREE_VARIANT_VERSIONS, payload=TREE_FILE)


def tree_variant_id(path) -> str:
    """Short hash of the manifest (without its timestamps) and the tree's arrays, the same on every load."""
    p = Path(path)
    return variant_id_of(read_tree_manifest(p), load_tree_file(p / TREE_FILE))


def load_tree_variant(path) -> TreeVariant:
    p = Path(path)
    manifest = read_tree_manifest(p)
    arrays = load_tree_file(p / TREE_FILE)
    return TreeVariant(
        model_name=manifest.get("model"), estimator=estimator_from_arrays(arrays), manifest=manifest,
        variant_id=variant_id_of(manifest, arrays), path=str(p),
    )


def save_tree_variant(estimator, manifest: dict, out_dir) -> Path:
    """Write tree.npz + manifest.json into out_dir, replacing a previous variant there, all or nothing."""
    import sklearn

    from harness import __version__

    out = Path(out_dir)
    if out.exists() and not is_tree_variant(out) and (not out.is_dir() or any(out.iterdir())):
        raise HarnessError(f"{str(out)!r} exists and is not a tree variant directory; choose an empty or new path")
    full = {"schema_version": TREE_VARIANT_SCHEMA_VERSION, "kind": TREE_VARIANT_KIND,
            **{k: v for k, v in manifest.items() if k not in ("schema_version", "kind")},
            "model_file": TREE_FILE, "sklearn_version": sklearn.__version__}
    full.setdefault("created_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    full.setdefault("harness_version", __version__)

    def fill(tmp: Path) -> None:
        save_npz(tree_arrays(estimator), tmp / TREE_FILE)
        (tmp / MANIFEST_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")

    return atomic_write_dir(out, fill)
