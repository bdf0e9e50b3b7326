"""The evaluation set a worker runs through the engine it timed: inputs shaped like the timed ones (the
configuration's sequence length, or image side), the task's labels, and the top-1 of the dense fp32 model.

Cached under the artifact cache as eval-<key>.npz, keyed by the task (its data file's sha256), the shape,
the tokenizer and the dense model; made once in the parent.

    inputs:  "input:<name>" arrays of N rows    labels: int64 [N] (-1 when the task has none)
    dense:   int64 [N], the dense fp32 model's top-1 in torch
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.contracts import BenchConfig, EvalSetMeta, TaskSpec, stable_hash
from harness.foundation.errors import HarnessError
from harness.foundation.fsutil import atomic_output, atomic_write_text
from harness.models.checkpoint import checkpoint_family
from harness.tasks.eval_data import eval_examples, file_sha256

EVAL_SEED = 20261130  # generated (teacher) inputs: disjoint from the timed inputs (seed 0)
TEACHER_EXAMPLES = 256  # generated examples for the teacher task unless eval_limit says otherwise
DENSE_CHUNK = 32


def eval_key(task: TaskSpec, family, config: BenchConfig, dense_id: str) -> dict:
    data = None
    if task.name == "sst2":
        data = file_sha256(Path(task.data) / "dev.tsv") if (Path(task.data) / "dev.tsv").is_file() else task.data
    elif task.name == "text-classification":
        data = file_sha256(Path(task.data)) if Path(task.data).is_file() else task.data
    return {"task": task.to_json(), "data": data, "seq": config.seq_len, "model": family.name, "dense": dense_id,
            "kind": family.kind, "version": 1}


def prepare_eval_set(config: BenchConfig, family, directory: Path, dense_model, dense_id: str) -> tuple[str, EvalSetMeta]:
    """(path of the npz, its description) for config.task; the dense model is asked for lazily (a callable)."""
    task = config.task
    key = stable_hash(eval_key(task, family, config, dense_id))
    path, meta_path = directory / f"eval-{key}.npz", directory / f"eval-{key}.json"
    if not path.is_file() or not meta_path.is_file():
        _build(task, family, config, dense_model, path, meta_path)
    return str(path), EvalSetMeta.from_json(json.loads(meta_path.read_text()), str(meta_path))


def _inputs(task: TaskSpec, family, config: BenchConfig):
    """(inputs as torch tensors, labels or None, description)."""
    if task.name == "teacher":
        n = task.eval_limit or TEACHER_EXAMPLES
        inputs = family.example_inputs(n, config.seq_len, seed=EVAL_SEED)
        return inputs, None, {"task": "teacher", "split": "generated", "examples": n, "data_sha256": None,
                              "inputs": f"{n} generated inputs (seed {EVAL_SEED})"}
    if family.kind != "text":
        raise HarnessError(f"task {task.name} is text but model {family.name!r} is an {family.kind} model; "
                           "use --task teacher (agreement with the dense model on generated inputs)")

    # a zoo family loading a checkpoint (`--model bert-base --checkpoint DIR`) answers with the checkpoint's head
    labels = checkpoint_family(config.checkpoint) if config.checkpoint else family
    ex = eval_examples(task, int(labels.num_labels), getattr(labels, "id2label", None))
    tokenizer, tok_name, clamp = family.task_tokenizer()
    limit = family.max_seq_len()
    if limit is not None and config.seq_len > limit:
        raise HarnessError(f"seq_len {config.seq_len} is longer than model {family.name!r} accepts ({limit})")
    enc = tokenizer(list(ex.texts), list(ex.pairs) if ex.pairs else None, truncation=True, max_length=config.seq_len,
                    padding="max_length", return_tensors="pt")
    import torch

    if clamp is not None:
        enc["input_ids"] = enc["input_ids"].clamp(max=clamp - 1)
    inputs = {name: enc[name] if name in enc else torch.zeros_like(enc["input_ids"]) for name in family.input_names}
    meta = {"task": ex.task, "split": ex.split, "examples": len(ex.labels), "data_sha256": ex.data_sha256,
            "data_file": ex.data_file, "label_names": list(ex.label_names), "tokenizer": tok_name}
    return inputs, torch.tensor(ex.labels, dtype=torch.long), meta


def _build(task: TaskSpec, family, config: BenchConfig, dense_model, path: Path, meta_path: Path) -> None:
    import numpy as np
    import torch

    from harness.models.base import ExportWrapper

    inputs, labels, meta = _inputs(task, family, config)
    wrapper = ExportWrapper(dense_model(), family.input_names).eval()
    n = next(iter(inputs.values())).shape[0]
    dense = []
    with torch.inference_mode():
        for start in range(0, n, DENSE_CHUNK):
            args = tuple(inputs[name][start : start + DENSE_CHUNK] for name in family.input_names)
            dense.append(wrapper(*args).float().argmax(-1))
    dense_pred = torch.cat(dense).numpy().astype(np.int64)
    arrays = {f"input:{k}": v.numpy() for k, v in inputs.items()}
    arrays["labels"] = labels.numpy() if labels is not None else np.full(n, -1, dtype=np.int64)
    arrays["dense"] = dense_pred
    with atomic_output(path, ".npz") as tmp:
        np.savez(tmp, **arrays)
    atomic_write_text(meta_path, json.dumps(EvalSetMeta.from_json(meta | {"seq_len": config.seq_len}).to_json()))
