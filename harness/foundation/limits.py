"""Bounds on what a user may ask for, and the estimates behind them.

Input files (matrices, recipes) are capped in size and nesting before they are parsed; thread counts are
capped by the CPUs this process may use (a forced count by a hard ceiling); a configuration's memory is
estimated from its model's shape before the parent builds inputs of that batch size. The estimates count
inputs and activations, not weights (a pruned variant may be far smaller than its family), and are lower
bounds: a configuration refused by them cannot run; one that passes may still run out of memory in its
worker, which then records `oom`.

Standard library only; the model's shape arrives as a duck-typed configuration object (a transformers
config: hidden_size/dim, intermediate_size/hidden_dim, ...), so this module imports nothing above it.
"""

from __future__ import annotations

import os

MAX_INPUT_FILE_BYTES = 1_000_000  # a matrix or recipe file; the bundled ones are a few kilobytes
MAX_INPUT_DEPTH = 32  # nested lists and mappings in such a file; the bundled ones nest 3 deep
MAX_FORCED_THREADS = 1024  # --force-threads still stops here: a million threads crash the engines
MAX_CONFIGURATIONS = 100_000  # configurations in one matrix (the product of its lists)
MAX_REPEATS = 1000  # --repeat: rounds over the whole list
# What a worker's address space holds before any model: the interpreter and one engine's shared libraries
# (torch alone maps about 1 GB under RLIMIT_AS; ONNX Runtime and OpenVINO more than 256 MB each)
WORKER_BASE_MB = 256
FLOAT_BYTES = 4
INDEX_BYTES = 8


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # platforms without affinity
        return os.cpu_count() or 1


def machine_ram_bytes() -> int | None:
    """Physical memory of this machine, or None when the platform does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _first(config, *names, default: int = 0) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return default


def text_model_bytes(config, batch: int, seq: int, *, dense: bool = True, inputs: int = 2) -> int:
    """Lower bound for a transformer encoder: int64 inputs and the activations one layer must hold at once.

    Dense: the residual stream and, beside it, the wider of the feed-forward projection and the attention
    scores of every head. A pruned variant may have fewer heads and neurons, so only the residual stream
    and the layer's output of the same width count."""
    hidden = _first(config, "hidden_size", "dim")
    inter = _first(config, "intermediate_size", "hidden_dim", default=4 * hidden)
    heads = _first(config, "num_attention_heads", "n_heads", default=1)
    tokens = batch * seq
    widest = max(tokens * inter, batch * heads * seq * seq) if dense else tokens * hidden
    return INDEX_BYTES * tokens * inputs + FLOAT_BYTES * (tokens * hidden + widest)


def image_model_bytes(config, batch: int, side: int) -> int:
    """Lower bound for a convolutional network: the fp32 image batch and the stem's output (half the side)."""
    channels = _first(config, "num_channels", default=3)
    stem = _first(config, "embedding_size", default=64)
    half = (side + 1) // 2
    return FLOAT_BYTES * batch * (channels * side * side + stem * half * half)


def tabular_model_bytes(batch: int, features: int) -> int:
    """Lower bound for a table model: the float64 input rows."""
    return INDEX_BYTES * batch * features


def model_bytes(kind: str, config, batch: int, seq: int, *, dense: bool = True) -> int:
    """The lower bound for a model of `kind` ("text", "image", "tabular"; 0 for anything else)."""
    if kind == "text":
        return text_model_bytes(config, batch, seq, dense=dense)
    if kind == "image":
        return image_model_bytes(config, batch, seq)
    if kind == "tabular":
        return tabular_model_bytes(batch, seq)
    return 0


def megabytes(n_bytes: int) -> str:
    """A byte count in MB (GB above 10 GB) for messages."""
    mb = n_bytes / 2**20
    if mb < 1:
        return "under 1 MB"
    return f"{mb / 1024:,.0f} GB" if mb >= 10 * 1024 else f"{mb:,.0f} MB"
