"""Post-training int8 quantization in the export stage: one fp32 ONNX export in, one int8 model out, cached.

Formats (which engine takes which is the backend's `int8_format`):
  qdq            static QDQ: int8 weights (per channel unless settings.int8_per_channel is off), uint8
                 activations (onnxruntime.quantization.quantize_static); ONNX Runtime and OpenVINO run it
  dynamic        onnxruntime.quantization.quantize_dynamic: int8 weights, activations quantized per call
  nncf           OpenVINO's own post-training quantization (nncf.quantize, transformer model type), saved as IR
  matmulinteger  a per-tensor static QDQ graph rewritten into the form DeepSparse's int8 kernels match
                 (MatMulInteger with uint8 operands, int32 bias Add, Cast, Mul), see deepsparse_int8.py
The classifier and pooler stay fp32 in every format (small, and the most sensitive to rounding).

Options (harness.contracts.Settings), for what keeps quality:
  int8_calibration   how activation ranges are calibrated: minmax, percentile (99.999th), entropy (ONNX Runtime's
                     calibrators; NNCF: MINMAX, MEAN_QUANTILE, HISTOGRAM range estimators)
  smoothquant_alpha  SmoothQuant before quantizing (smoothquant.py for the ONNX formats; NNCF's own for nncf, where
                     None keeps NNCF's transformer default of 0.95)
  int8_max_drop      the sensitivity pass (sensitivity.py; NNCF's quantize_with_accuracy_control for nncf)
Each call returns the path and a Quantization record: method, options, calibration source and size, the layers
left in fp32, the fraction of int8 weight values that are exactly zero (pruned zeros stay zero when the zero
point is 0) and the size on disk.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.contracts import Calibration, Quantization, Settings
from harness.foundation.errors import HarnessError
from harness.foundation.fsutil import atomic_output

from .deepsparse_int8 import rewrite_for_deepsparse
from .nncf_control import nncf_parameters, quantize_with_control
from .sensitivity import restore
from .smoothquant import smooth

FORMATS = ("qdq", "dynamic", "nncf", "matmulinteger")
KEEP_FP32 = re.compile(r"classifier|pooler", re.I)  # node names left in fp32
PERCENTILE = 99.999
NNCF_SMOOTHQUANT_DEFAULT = 0.95  # nncf.AdvancedSmoothQuantParameters().matmul, applied to transformer models


def _excluded_nodes(model) -> list[str]:
    return [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm") and KEEP_FP32.search(n.name)]


class _Reader:
    """onnxruntime's CalibrationDataReader over a list of input batches."""

    def __init__(self, batches: list[dict]):
        self._it = iter(batches)

    def get_next(self):
        return next(self._it, None)


def quantize_onnx(src: Path, dst: Path, fmt: str, batches: list[dict] | None, settings: Settings,
                  calibration: Calibration | None = None, heldout=None) -> Quantization:
    """Quantize the fp32 ONNX model `src` into `dst` in format qdq, dynamic or matmulinteger; `heldout`
    (sensitivity.Heldout) with settings.int8_max_drop runs the sensitivity pass."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    if fmt not in ("qdq", "dynamic", "matmulinteger"):
        raise HarnessError(f"int8 format {fmt!r} is not an ONNX format; valid: qdq, dynamic, matmulinteger")
    alpha = settings.smoothquant_alpha if fmt != "dynamic" else None
    per_channel = settings.int8_per_channel and fmt != "matmulinteger"  # DeepSparse: one weight scale per tensor
    with atomic_output(dst, ".onnx") as tmp, atomic_output(dst.with_name(f".{dst.stem}-fp32.onnx"), ".onnx") as fp32:
        source = src
        if alpha is not None:
            smooth(src, fp32, batches, alpha, KEEP_FP32)
            source = fp32
        model = onnx.load(str(source))
        exclude = _excluded_nodes(model)
        if fmt == "dynamic":
            quantize_dynamic(str(source), str(tmp), op_types_to_quantize=["MatMul", "Gemm"], per_channel=per_channel,
                             weight_type=QuantType.QInt8, nodes_to_exclude=exclude)
            method = f"dynamic int8 (onnxruntime.quantization.quantize_dynamic, {_granularity(per_channel)} weights)"
        else:
            method_enum = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                           "entropy": CalibrationMethod.Entropy}[settings.int8_calibration]
            extra = {"WeightSymmetric": True}
            if settings.int8_calibration == "percentile":
                extra["CalibPercentile"] = PERCENTILE
            quantize_static(str(source), str(tmp), _Reader(batches), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=["MatMul", "Gemm"], per_channel=per_channel,
                            activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8 if per_channel else QuantType.QUInt8,
                            nodes_to_exclude=exclude, calibrate_method=method_enum, extra_options=extra)
            method = (f"static QDQ int8 ({_granularity(per_channel)} weights, uint8 activations, "
                      f"{settings.int8_calibration} calibration" + (f", SmoothQuant alpha {alpha:g}" if alpha is not None else "") + ")")
        sensitivity, returned = None, ()
        if settings.int8_max_drop is not None and heldout is not None and fmt != "dynamic":
            restored, sensitivity, returned = restore(onnx.load(str(source)), onnx.load(str(tmp)), heldout,
                                                      settings.int8_max_drop)
            onnx.save(restored, str(tmp))
        if fmt == "matmulinteger":
            rewritten = rewrite_for_deepsparse(onnx.load(str(tmp)))
            onnx.save(rewritten.model, str(tmp))
            method += f", rewritten to MatMulInteger for DeepSparse ({rewritten.converted} MatMuls)"
    return Quantization(format=fmt, method=method, per_channel=per_channel,
                        calibration_method=None if fmt == "dynamic" else settings.int8_calibration,
                        calibration=calibration, smoothquant_alpha=alpha, fp32_layers=tuple(exclude) + returned,
                        returned_to_fp32=returned, sensitivity=sensitivity,
                        int8_weight_zero_fraction=int8_zero_fraction(dst), bytes=dst.stat().st_size)


def _granularity(per_channel: bool) -> str:
    return "per-channel" if per_channel else "per-tensor"


def quantize_nncf(src: Path, dst_xml: Path, batches: list[dict], kind: str, settings: Settings,
                  calibration: Calibration | None = None, heldout=None) -> Quantization:
    """OpenVINO post-training quantization (NNCF) of the fp32 ONNX model, saved as IR (xml + bin)."""
    import nncf
    import openvino as ov


    nncf.set_log_level(40)  # errors only: its progress bars would fill the log
    model = ov.Core().read_model(str(src))
    names = [op.get_friendly_name() for op in model.get_ordered_ops() if KEEP_FP32.search(op.get_friendly_name())]
    params, alpha, described = nncf_parameters(settings, kind)
    common = dict(subset_size=len(batches), model_type=nncf.ModelType.TRANSFORMER if kind == "text" else None,
                  ignored_scope=nncf.IgnoredScope(names=names, validate=False), advanced_parameters=params)
    quantized = nncf.quantize(model, nncf.Dataset(batches), **common)
    sensitivity, returned = None, ()
    if settings.int8_max_drop is not None and heldout is not None:
        quantized, sensitivity, returned = quantize_with_control(model, quantized, batches, heldout,
                                                                 settings.int8_max_drop, common)
    tmp_xml = dst_xml.with_name(f".{dst_xml.stem}.tmp.xml")
    ov.save_model(quantized, str(tmp_xml), compress_to_fp16=False)
    tmp_xml.with_suffix(".bin").replace(dst_xml.with_suffix(".bin"))
    tmp_xml.replace(dst_xml)
    method = ("NNCF post-training int8 (OpenVINO IR, transformer model type" if kind == "text"
              else "NNCF post-training int8 (OpenVINO IR") + f", {described})"
    return Quantization(format="nncf", method=method, per_channel=settings.int8_per_channel,
                        calibration_method=settings.int8_calibration, calibration=calibration, smoothquant_alpha=alpha,
                        fp32_layers=tuple(names[:20]) + returned, returned_to_fp32=returned, sensitivity=sensitivity,
                        bytes=dst_xml.stat().st_size + dst_xml.with_suffix(".bin").stat().st_size)


def int8_zero_fraction(path: Path) -> float | None:
    """Fraction of the int8/uint8 weight initialisers' values equal to their zero point (pruned zeros that
    survived quantization), over all quantized weights; None when the graph has none."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    zero = total = 0
    for node in model.graph.node:
        if node.op_type not in ("DequantizeLinear", "MatMulInteger") or len(node.input) < 3:
            continue
        w_name, zp_name = (node.input[0], node.input[2]) if node.op_type == "DequantizeLinear" else (node.input[1], node.input[3] if len(node.input) > 3 else "")
        if w_name not in inits:
            continue
        w = numpy_helper.to_array(inits[w_name])
        if w.dtype not in (np.int8, np.uint8) or w.ndim < 2:
            continue
        zp = numpy_helper.to_array(inits[zp_name]) if zp_name in inits else np.zeros((), w.dtype)
        if np.unique(zp).size == 1:  # per-tensor, or symmetric per-channel: one zero point
            zp = zp.reshape(-1)[0]
        else:  # per-channel: the axis whose length is the number of zero points
            axis = next(a for a in range(w.ndim) if w.shape[a] == zp.size)
            zp = zp.reshape([-1 if a == axis else 1 for a in range(w.ndim)])
        zero += int((w == zp).sum())
        total += w.size
    return round(zero / total, 6) if total else None
