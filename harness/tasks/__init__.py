"""Data for gradients, fine-tuning and evaluation: SST-2 from a local directory, or generated inputs
labelled by the dense model (a "teacher" task) when there is no data.

    task = make_task(model_family("minilm"), "/data/sst2", max_train=4096)
    task = make_task(model_family("resnet50-tiny"), None, teacher=dense_model)
"""

from __future__ import annotations

import os

from harness.foundation.errors import HarnessError

from .base import Task, derive_seed, weights_hash

DATA_ENV = "HARNESS_DATA_DIR"

__all__ = ["DATA_ENV", "Task", "derive_seed", "make_task", "resolve_data_dir", "weights_hash"]


def resolve_data_dir(data_dir: str | None) -> str | None:
    """The data directory a command should use: its --data value, else $HARNESS_DATA_DIR, else None."""
    if data_dir:
        return str(data_dir)
    return os.environ.get(DATA_ENV) or None


def make_task(family, data_dir: str | None, *, teacher=None, seed: int = 0, max_train: int | None = None,
              max_eval: int | None = None, seq_len: int | None = None, method: str | None = None) -> Task:
    """SST-2 from `data_dir` when given (text families), else generated inputs labelled by `teacher`.

    family: a ModelFamily. seq_len: the SST-2 truncation length (default 64) or
    the generated inputs' sequence length / image side (default: the family's). `method` only names
    the pruning method in the error raised when there is neither data nor a teacher.
    A teacher task calls `teacher` lazily: do not modify the teacher while the task is in use.
    """
    if data_dir:
        from .sst2 import SST2Task

        return SST2Task(family, data_dir, seed=seed, max_train=max_train, max_eval=max_eval, seq_len=seq_len)
    if teacher is None:
        who = f"method {method!r}" if method else "this step"
        raise HarnessError(
            f"{who} needs data: pass --data DIR (SST-2 layout: train.tsv, dev.tsv) or set {DATA_ENV}, "
            "or give a dense teacher model to label generated inputs"
        )
    from .teacher import TeacherTask

    return TeacherTask(family, teacher, seed=seed, max_train=max_train, max_eval=max_eval, seq_len=seq_len)
