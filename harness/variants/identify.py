"""The id of any variant directory, whatever made it (its manifest's kind says which reader applies)."""

from __future__ import annotations

from harness.foundation.errors import HarnessError


def variant_id(path) -> str:
    """Short hash of a variant's manifest and payload, the same on every load; a one-line error when unreadable."""
    from .trees import is_tree_variant, tree_variant_id

    if is_tree_variant(path):
        return tree_variant_id(path)
    from .neural import variant_id as neural_variant_id

    try:
        return neural_variant_id(path)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"variant {str(path)!r} cannot be read: {exc}") from None
