"""ONNX export of a torch model (TorchScript exporter), with fixed or dynamic batch/sequence axes."""

from __future__ import annotations

from pathlib import Path

from harness.foundation.errors import HarnessError
from harness.foundation.fsutil import atomic_output

OPSET = 17


def export_onnx(wrapper, family, args, path: Path, *, dynamic: bool = True, opset: int = OPSET) -> Path:
    """Export `wrapper` (positional forward over family.input_names) to `path`, atomically."""
    import warnings

    import torch

    try:
        with atomic_output(path, ".onnx") as tmp, torch.inference_mode(False), torch.no_grad(), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about constants; parity is checked per shape
            torch.onnx.export(
                wrapper, args, str(tmp),
                input_names=list(family.input_names), output_names=list(family.output_names),
                dynamic_axes=family.dynamic_axes() if dynamic else None,
                opset_version=opset, dynamo=False, do_constant_folding=True,
            )
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HarnessError(f"ONNX export of {family.name} failed: {first}") from exc
    return path
