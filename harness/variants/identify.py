"""The id and the check of any variant directory, whatever made it (its manifest's kind says which reader applies)."""

from __future__ import annotations

from harness.foundation.errors import HarnessError

from .neural import check_variant
from .neural import variant_id as neural_variant_id
from .trees import is_tree_variant, read_tree_manifest, tree_variant_id


def variant_id(path) -> str:
    """Short hash of a variant's manifest and payload, the same on every load; a one-line error when unreadable."""
    if is_tree_variant(path):
        return tree_variant_id(path)

    try:
        return neural_variant_id(path)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"variant {str(path)!r} cannot be read: {exc}") from None


def check_variant_dir(path, model: str | None = None) -> None:
    """A variant directory of either kind (a pruned torch model or a pruned tree), checked as loading it would,
    without reading its weights' data; with `model`, one made from another model is refused."""
    if is_tree_variant(path):
        _, manifest = read_tree_manifest(path)
        if model is not None and manifest.model != model:
            raise HarnessError(f"tree variant {str(path)!r} was made for {manifest.model!r}, not {model!r}")
        return
    check_variant(path, model)
