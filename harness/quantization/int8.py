"""The int8 model of a configuration: made once from its fp32 ONNX export and cached beside it.

    <artifact dir>/int8-<format>-<key>.onnx (or .xml + .bin for NNCF) and int8-<format>-<key>.json (its
    Quantization record), where the key covers the format, the int8 options (per-channel, calibration method,
    SmoothQuant alpha, the sensitivity pass's budget and held-back size), the calibration source and size, and
    the shape.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness.contracts import BenchConfig, Calibration, Quantization, stable_hash
from harness.foundation.fsutil import atomic_write_text

from .calibration import CALIBRATION_SEED, calibration_batches, encode, labelled_text_task, training_slice
from .quantize import quantize_nncf, quantize_onnx
from .sensitivity import Heldout

CALIBRATED = ("qdq", "nncf", "matmulinteger")
HELDOUT_SEED = CALIBRATION_SEED + 1  # generated held-back inputs: disjoint from the calibration ones
EVAL_BATCH = 32
KEY_VERSION = 2  # 2: typed Quantization records; the int8 options in the key


def quantized_model(config: BenchConfig, family, fp32_onnx: Path, fmt: str, *, static: bool) -> tuple[Path, Quantization]:
    """(path of the int8 model, its Quantization record) in format `fmt`; the record's `seconds` is the time it
    took to make (0.0 when it came from the cache)."""
    s = config.settings
    batch = config.batch_size if static else 1
    examples = max(batch, s.calibration_examples // batch * batch) if fmt in CALIBRATED else 0
    source = config.task.to_json() if config.task is not None and config.task.name != "teacher" else "generated"
    options = {"per_channel": s.int8_per_channel, "calibration": s.int8_calibration, "alpha": s.smoothquant_alpha,
               "max_drop": s.int8_max_drop, "heldout": s.heldout_examples if s.int8_max_drop is not None else None}
    key = stable_hash({"format": fmt, "examples": examples, "source": source, "batch": batch, "seq": config.seq_len,
                       "fp32": fp32_onnx.stat().st_size, "options": options, "version": KEY_VERSION})
    suffix = ".xml" if fmt == "nncf" else ".onnx"
    path = fp32_onnx.parent / f"int8-{fmt}-{key}{suffix}"
    meta_path = fp32_onnx.parent / f"int8-{fmt}-{key}.json"
    if path.is_file() and meta_path.is_file():
        return path, Quantization.from_json(json.loads(meta_path.read_text()), "int8 model").replace(seconds=0.0)
    t0 = time.perf_counter()
    batches, calibration = calibration_batches(config, family, examples, batch) if examples else ([], None)
    calibration = Calibration(**calibration) if calibration else None
    heldout = heldout_examples(config, family, batch if static else EVAL_BATCH) if s.int8_max_drop is not None else None
    if fmt == "nncf":
        quantization = quantize_nncf(fp32_onnx, path, batches, family.kind, s, calibration, heldout)
    else:
        quantization = quantize_onnx(fp32_onnx, path, fmt, batches, s, calibration, heldout)
    quantization = quantization.replace(seconds=round(time.perf_counter() - t0, 3))
    atomic_write_text(meta_path, json.dumps(quantization.to_json()))
    return path, quantization


def heldout_examples(config: BenchConfig, family, batch: int):
    """The sensitivity pass's examples: held back from the task's training split (never the evaluation split),
    or generated inputs judged by agreement with the fp32 model when there is no labelled text task."""
    import numpy as np


    n = config.settings.heldout_examples
    if labelled_text_task(config, family):
        part = training_slice(config.task, n, heldout=True, reserve=config.settings.calibration_examples,
                              num_labels=int(family.num_labels), id2label=getattr(family, "id2label", None))
        arrays, labels, source = encode(family, part.texts, part.pairs, config.seq_len), np.array(part.labels), \
            f"{part.examples} examples of {part.name}"
    else:
        arrays = {k: v.numpy() for k, v in family.example_inputs(n, config.seq_len, seed=HELDOUT_SEED).items()}
        labels, source = None, f"{n} generated inputs (seed {HELDOUT_SEED})"
    rows = n // batch * batch
    batches = [{k: v[i : i + batch] for k, v in arrays.items()} for i in range(0, rows, batch)]
    return Heldout(batches=batches, labels=labels[:rows] if labels is not None else None, source=source)
