"""Examples from a task's TRAINING split for post-training compression, and int8 calibration inputs.

Two disjoint slices of one seeded shuffle of the training split (SST-2's train.tsv, or the text-classification
file itself, which has no other split):
  calibration  the first N of the shuffle: int8 activation ranges, Fisher mask gradients and layer-wise
               reconstruction (harness.pruning.post_training)
  held-back    the last M of the shuffle: what the int8 sensitivity pass and the compression search judge
               quality on, so that the dev split stays the report's
Without a labelled text task, calibration inputs are the family's seeded example inputs ("teacher" inputs, for
random-init models and images).

Tokenised calibration batches are cached under $HARNESS_CACHE_DIR/calibration/ (keyed by the task's data file,
the tokenizer, the shape and the count), so a second quantization of any model of the same checkpoint does not
read or tokenise the training split again.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.contracts import BenchConfig, TaskSpec, stable_hash
from harness.foundation.errors import HarnessError
from harness.foundation.fsutil import atomic_output, atomic_write_text
from harness.foundation.machine import cache_dir
from harness.tasks.eval_data import file_sha256, label_mapping, read_columns

CALIBRATION_SEED = 7  # the shuffle of the training split; generated inputs: disjoint from timed (0) and evaluation inputs
CACHE_VERSION = 1


@dataclass(frozen=True)
class TrainingSlice:
    """Examples of a task's training split: texts (and second texts for pairs), integer labels, their positions."""

    name: str  # e.g. "sst2 train"
    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None
    labels: tuple[int, ...]
    positions: tuple[int, ...]
    data_sha256: str

    @property
    def examples(self) -> int:
        return len(self.texts)


def training_slice(task: TaskSpec, count: int, *, heldout: bool = False, reserve: int = 0, num_labels: int = 2,
                   id2label: dict | None = None, at_most: bool = False) -> TrainingSlice:
    """`count` examples of the task's training split: the first of the seeded shuffle, or with `heldout` the last.
    `reserve`: how many the other slice takes, so that the two are checked to be disjoint. `at_most`: fewer when
    the split is smaller (int8 calibration), instead of an error."""
    texts, pairs, labels, name, sha = _training_split(task, num_labels, id2label or {})
    if at_most:
        count = min(count, len(texts))
    if count < 1:
        raise HarnessError(f"{name}: asked for {count} examples")
    if count + reserve > len(texts):
        raise HarnessError(f"{name} has {len(texts)} examples, fewer than the {count} + {reserve} the calibration and "
                           "held-back slices need; lower --calibration-examples or --heldout-examples")
    order = list(range(len(texts)))
    random.Random(CALIBRATION_SEED).shuffle(order)
    pick = order[len(order) - count:] if heldout else order[:count]
    return TrainingSlice(name=name + (" (held back)" if heldout else ""), texts=tuple(texts[i] for i in pick),
                         pairs=tuple(pairs[i] for i in pick) if pairs else None,
                         labels=tuple(labels[i] for i in pick), positions=tuple(pick), data_sha256=sha)


def _training_split(task: TaskSpec, num_labels: int, id2label: dict):
    """(texts, second texts or None, labels, name, sha256 of the file) of the task's training split."""
    if task.name == "sst2":
        from harness.tasks.sst2 import read_tsv

        path = Path(task.data) / "train.tsv"
        if not path.is_file():
            raise HarnessError(f"data directory {task.data!r} has no train.tsv (SST-2 layout: train.tsv, dev.tsv)")
        texts, labels = read_tsv(path)
        return texts, None, labels, "sst2 train", file_sha256(path)
    if task.name == "text-classification":
        path = Path(task.data)
        texts, pairs, raw = read_columns(task.data, task.text_columns, task.label_column)
        labels, _ = label_mapping(raw, num_labels, id2label, path)
        return texts, pairs or None, labels, path.name, file_sha256(path)
    raise HarnessError(f"task {task.name!r} has no training split")


def encode(family, texts, pairs, seq_len: int) -> dict[str, np.ndarray]:
    """{input name: int64 [n, seq_len]} tokenised with the family's task tokenizer, padded to seq_len."""
    tokenizer, _, clamp = family.task_tokenizer()
    enc = tokenizer(list(texts), list(pairs) if pairs else None, truncation=True, max_length=seq_len,
                    padding="max_length", return_tensors="np")
    ids = enc["input_ids"].astype("int64")
    if clamp is not None:
        ids = ids.clip(max=clamp - 1)
    return {name: (ids if name == "input_ids" else enc[name].astype("int64")) if name in enc else ids * 0
            for name in family.input_names}


def calibration_batches(config: BenchConfig, family, examples: int, batch: int = 1) -> tuple[list[dict], dict]:
    """([{input name: int64/float32 numpy array}], description) with `examples` examples in batches of `batch`,
    shaped like the timed inputs (the configuration's sequence length)."""
    key = _batches_key(config, family, examples)
    path = cache_dir() / "calibration" / f"{key}.npz"
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        data = np.load(path)
        arrays = {name: data[name] for name in family.input_names}
        source = json.loads(meta_path.read_text())["source"]
    else:
        arrays, source = _calibration_arrays(config, family, examples)
        with atomic_output(path, ".npz") as tmp:
            np.savez(tmp, **arrays)
        atomic_write_text(meta_path, json.dumps({"source": source}))
    n = next(iter(arrays.values())).shape[0]
    batches = [{k: v[i : i + batch] for k, v in arrays.items()} for i in range(0, n - batch + 1, batch)]
    return batches, {"source": source, "examples": len(batches) * batch}


def labelled_text_task(config: BenchConfig, family) -> bool:
    return family.kind == "text" and config.task is not None and config.task.name != "teacher"


def _batches_key(config: BenchConfig, family, examples: int) -> str:
    data = None
    if labelled_text_task(config, family):
        task = config.task
        path = Path(task.data) / "train.tsv" if task.name == "sst2" else Path(task.data)
        data = [task.to_json(), file_sha256(path) if path.is_file() else str(path)]
    return stable_hash({"data": data, "tokenizer": tokenizer_identity(family), "seq": config.seq_len,
                        "examples": examples, "inputs": list(family.input_names), "version": CACHE_VERSION})


def tokenizer_identity(family) -> str:
    """What decides a family's tokenizer without loading it: the checkpoint directory's contents (its id) for a
    local checkpoint, else the zoo family's name."""
    directory = getattr(family, "directory", None)
    if directory:
        from harness.models.checkpoint import checkpoint_id

        return f"checkpoint:{checkpoint_id(directory)}"
    return family.name


def _calibration_arrays(config: BenchConfig, family, examples: int) -> tuple[dict, str]:
    if not labelled_text_task(config, family):
        inputs = family.example_inputs(examples, config.seq_len, seed=CALIBRATION_SEED)
        return {k: v.numpy() for k, v in inputs.items()}, f"{examples} generated inputs (seed {CALIBRATION_SEED})"
    part = training_slice(config.task, examples, num_labels=int(family.num_labels),
                          id2label=getattr(family, "id2label", None), at_most=True)
    return encode(family, part.texts, part.pairs, config.seq_len), f"{part.examples} examples of {part.name}"
