"""Calibration inputs for post-training int8 quantization.

From the task's training split when the configuration carries a labelled text task (SST-2's train.tsv, or the
text-classification file itself), else generated inputs (the family's seeded example inputs: "teacher"
inputs, for random-init models and images). Shaped like the timed inputs: the configuration's sequence
length (padded), one example per batch for dynamic exports, or the fixed batch of a static export.
"""

from __future__ import annotations

from pathlib import Path

from harness.contracts import BenchConfig

CALIBRATION_SEED = 7  # generated calibration inputs: disjoint from timed (0) and evaluation inputs


def calibration_batches(config: BenchConfig, family, examples: int, batch: int = 1) -> tuple[list[dict], dict]:
    """([{input name: int64/float32 numpy array}], description) with `examples` examples in batches of `batch`."""
    texts = _task_texts(config, examples) if family.kind == "text" else None
    if texts is None:
        inputs = family.example_inputs(examples, config.seq_len, seed=CALIBRATION_SEED)
        arrays = {k: v.numpy() for k, v in inputs.items()}
        source = f"{examples} generated inputs (seed {CALIBRATION_SEED})"
    else:
        tokenizer, _, clamp = family.task_tokenizer()
        enc = tokenizer(list(texts[0]), list(texts[1]) if texts[1] else None, truncation=True,
                        max_length=config.seq_len, padding="max_length", return_tensors="np")
        ids = enc["input_ids"].astype("int64")
        if clamp is not None:
            ids = ids.clip(max=clamp - 1)
        arrays = {name: (ids if name == "input_ids" else enc[name].astype("int64")) if name in enc else ids * 0
                  for name in family.input_names}
        source = f"{len(ids)} examples of {texts[2]}"
    n = next(iter(arrays.values())).shape[0]
    batches = [{k: v[i : i + batch] for k, v in arrays.items()} for i in range(0, n - batch + 1, batch)]
    return batches, {"source": source, "examples": len(batches) * batch}


def _task_texts(config: BenchConfig, examples: int):
    """(texts, second texts or None, name) from the task's training data, or None without a labelled text task."""
    task = config.task
    if task is None or task.name == "teacher":
        return None
    import random

    if task.name == "sst2":
        from harness.tasks.eval_data import read_tsv

        texts, _ = read_tsv(Path(task.data) / "train.tsv")
        pairs, name = None, "sst2 train"
    else:
        from harness.tasks.eval_data import read_columns

        texts, pairs, _ = read_columns(task.data, task.text_columns)
        pairs, name = pairs or None, Path(task.data).name
    order = list(range(len(texts)))
    random.Random(CALIBRATION_SEED).shuffle(order)
    pick = order[:examples]
    return [texts[i] for i in pick], [pairs[i] for i in pick] if pairs else None, name
