"""`harness finetune`: fine-tune a model on a labelled task and save it as a local checkpoint directory
(config.json, model.safetensors, the tokenizer and harness-finetune.json), ready for `harness bench
--checkpoint DIR --task ...` and `harness prune --checkpoint DIR`.

The training itself is the pruning library's dense fine-tune (cross-entropy on the task's labels, AdamW,
linear decay), cached by model, data, steps and seed, so a second run with the same arguments is instant.

The checkpoint's tokenizer is the one whose ids trained it, and the model has an embedding row for each of
them: a zoo model without a tokenizer of its own (the tiny test models: 1,000 rows) tokenizes with
all-MiniLM-L6-v2's (30,522 tokens), so before training its embedding grows to the tokenizer's vocabulary
(new rows seeded), rather than clamping ids that the saved tokenizer would no longer clamp.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import torch

from harness import __version__
from harness.contracts import FinetuneDescription, FinetuneQuality, FinetuneSettings, ModelQuality, VocabularyResize
from harness.foundation.errors import ConfigError
from harness.foundation.fsutil import atomic_write_dir
from harness.foundation.pathchecks import check_replaceable_output
from harness.models.registry import family_for
from harness.tasks import make_task

DESCRIPTION_FILE = "harness-finetune.json"


def with_vocabulary(family, vocab_size: int):
    """A copy of `family` whose configuration has `vocab_size` embedding rows (what its tokenizer emits)."""
    fitted = copy.copy(family)
    make_config = family.make_config

    def grown():
        config = make_config()
        config.vocab_size = vocab_size
        return config

    fitted.make_config = grown
    return fitted


def finetune(model_name: str, data_dir: str, out_dir, *, steps: int = 300, lr: float = 5e-5, batch_size: int = 32,
             max_train: int | None = None, seq_len: int | None = None, seed: int = 0, checkpoint: str | None = None,
             progress: bool = True) -> tuple[Path, FinetuneDescription]:
    """Fine-tune and save; returns (checkpoint directory, description with dev accuracy before and after)."""
    from harness.pruning.pruner import default_cache_dir
    from harness.pruning.training import evaluate, finetune_dense

    family = family_for(model_name, checkpoint)
    if family.kind != "text":
        raise ConfigError(f"finetune: {family.name} is an {family.kind} model; fine-tuning takes a text task (SST-2)")
    if steps < 1:
        raise ConfigError(f"--steps: expected a positive integer, got {steps}")
    tokenizer, _, clamp = family.task_tokenizer()
    model = family.build(checkpoint=checkpoint, seed=seed)
    resized = None
    if clamp is not None and len(tokenizer) > clamp:
        resized = VocabularyResize(rows_before=clamp, rows_after=len(tokenizer))
        torch.manual_seed(seed)
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        family = with_vocabulary(family, len(tokenizer))
    task = make_task(family, data_dir, seed=seed, max_train=max_train, seq_len=seq_len)
    before = evaluate(model, task)
    started = time.perf_counter()
    model = finetune_dense(family, model, task, steps=steps, lr=lr, batch_size=batch_size, seed=seed,
                           cache_dir=default_cache_dir())
    after = evaluate(model, task)
    description = FinetuneDescription(
        base=family.name, base_checkpoint=checkpoint, data=task.data_id, train_data=task.train_data_id,
        settings=FinetuneSettings(steps=steps, lr=lr, batch_size=batch_size, max_train=max_train, seq_len=seq_len,
                                  seed=seed),
        quality=FinetuneQuality(before=ModelQuality.from_json(before, "before"),
                                after=ModelQuality.from_json(after, "after"), split="dev"),
        wall_time_s=round(time.perf_counter() - started, 3), harness_version=__version__, vocabulary_resized=resized,
    )

    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / DESCRIPTION_FILE).write_text(json.dumps(description.to_json(), indent=2) + "\n")

    check_replaceable_output(out_dir, "--out", what="a checkpoint finetune wrote", owned=DESCRIPTION_FILE)
    return atomic_write_dir(out_dir, fill), description
