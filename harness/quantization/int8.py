"""The int8 model of a configuration: made once from its fp32 ONNX export and cached beside it.

    <artifact dir>/int8-<format>-<key>.onnx (or .xml + .bin for NNCF) and int8-<format>-<key>.json, where the
    key covers the format, the calibration source and size, and the shape.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.contracts import BenchConfig, stable_hash
from harness.foundation.fsutil import atomic_write_text

from .calibration import calibration_batches
from .quantize import quantize_nncf, quantize_onnx

CALIBRATED = ("qdq", "nncf", "matmulinteger")


def quantized_model(config: BenchConfig, family, fp32_onnx: Path, fmt: str, *, static: bool) -> tuple[Path, dict]:
    """(path of the int8 model, its description) in format `fmt`."""
    batch = config.batch_size if static else 1
    examples = max(batch, config.settings.calibration_examples // batch * batch) if fmt in CALIBRATED else 0
    source = config.task.to_json() if config.task is not None and config.task.name != "teacher" else "generated"
    key = stable_hash({"format": fmt, "examples": examples, "source": source, "batch": batch,
                       "seq": config.seq_len, "fp32": fp32_onnx.stat().st_size, "version": 1})
    suffix = ".xml" if fmt == "nncf" else ".onnx"
    path = fp32_onnx.parent / f"int8-{fmt}-{key}{suffix}"
    meta_path = fp32_onnx.parent / f"int8-{fmt}-{key}.json"
    if path.is_file() and meta_path.is_file():
        return path, json.loads(meta_path.read_text())
    batches, calibration = calibration_batches(config, family, examples, batch) if examples else ([], None)
    if fmt == "nncf":
        description = quantize_nncf(fp32_onnx, path, batches, family.kind)
    else:
        description = quantize_onnx(fp32_onnx, path, fmt, batches)
    description["calibration"] = calibration
    atomic_write_text(meta_path, json.dumps(description))
    return path, description
