"""NNCF's side of int8 that keeps quality: the options as NNCF parameters, and its accuracy-control algorithm
(nncf.quantize_with_accuracy_control) as the sensitivity pass for OpenVINO IR models.

NNCF's accuracy control ranks quantized operations by their contribution to the drop and reverts them to
floating point one at a time until the metric is within `max_drop` (absolute). The metric here is accuracy on the
held-back slice of the training split (or agreement with the fp32 model without labels), one example per item.
"""

from __future__ import annotations

import time

import numpy as np

from harness.contracts import SensitivityPass, Settings

# settings.int8_calibration -> NNCF range estimator (harness.quantization.quantize's minmax, percentile, entropy)
RANGE_ESTIMATORS = {"minmax": "MINMAX", "percentile": "MEAN_QUANTILE", "entropy": "HISTOGRAM"}


def nncf_parameters(settings: Settings, kind: str):
    """(AdvancedQuantizationParameters, the SmoothQuant alpha in effect or None, a description)."""
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        AdvancedSmoothQuantParameters,
        QuantizationParameters,
    )
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    kw = {"activations_range_estimator_params": getattr(RangeEstimatorParametersSet,
                                                        RANGE_ESTIMATORS[settings.int8_calibration])}
    if not settings.int8_per_channel:
        kw["weights_quantization_params"] = QuantizationParameters(per_channel=False)
    alpha = settings.smoothquant_alpha
    if alpha is not None:
        kw["smooth_quant_alphas"] = AdvancedSmoothQuantParameters(matmul=alpha)
    elif kind == "text":
        alpha = AdvancedSmoothQuantParameters().matmul  # NNCF smooths transformer MatMuls by default
    else:
        alpha = None
    described = (f"{'per-channel' if settings.int8_per_channel else 'per-tensor'} weights, "
                 f"{settings.int8_calibration} ranges ({RANGE_ESTIMATORS[settings.int8_calibration]})"
                 + (f", SmoothQuant alpha {alpha:g}" if alpha is not None else ""))
    return AdvancedQuantizationParameters(**kw), alpha, described


def _items(heldout) -> list[tuple[dict, int]]:
    """One (inputs, label or -1) per held-back example."""
    items, offset = [], 0
    for batch in heldout.batches:
        rows = len(next(iter(batch.values())))
        for r in range(rows):
            label = int(heldout.labels[offset + r]) if heldout.labels is not None else -1
            items.append(({k: v[r : r + 1] for k, v in batch.items()}, label))
        offset += rows
    return items


def _predictions(compiled, items) -> np.ndarray:
    out = compiled.outputs[0]
    return np.array([int(np.asarray(compiled(inputs)[out]).reshape(-1).argmax()) for inputs, _ in items])


def quantize_with_control(model, quantized, batches, heldout, max_drop: float, common: dict):
    """(the model, SensitivityPass, returned layers): `quantized` as it is when its drop is within budget, else
    NNCF's accuracy-controlled quantization of `model`."""
    import nncf
    import openvino as ov

    t0 = time.perf_counter()
    core = ov.Core()
    items = _items(heldout)
    fp32_pred = _predictions(core.compile_model(model, "CPU"), items)
    truth = np.array([label for _, label in items]) if heldout.labels is not None else fp32_pred
    fp32 = float((fp32_pred == truth).mean())
    before = float((_predictions(core.compile_model(quantized, "CPU"), items) == truth).mean())
    budget = max_drop / 100.0 + 1e-12
    result, after, returned = quantized, before, ()
    if fp32 - before > budget:
        labelled = [(inputs, int(t)) for (inputs, _), t in zip(items, truth)]

        def validate(compiled, data):
            data = list(data)
            correct = (_predictions(compiled, data) == np.array([label for _, label in data])).astype(float)
            return float(correct.mean()), correct.tolist()

        result = nncf.quantize_with_accuracy_control(
            model, nncf.Dataset(batches), nncf.Dataset(labelled, lambda item: item[0]), validate,
            max_drop=max_drop / 100.0, drop_type=nncf.DropType.ABSOLUTE, subset_size=common["subset_size"],
            model_type=common["model_type"], ignored_scope=common["ignored_scope"],
            advanced_quantization_parameters=common["advanced_parameters"])
        after = float((_predictions(core.compile_model(result, "CPU"), items) == truth).mean())
        returned = tuple(n for n in float_matmuls(result) if n not in set(float_matmuls(quantized)))
    done = SensitivityPass(max_drop=max_drop, examples=len(items), source=heldout.source,
                           metric="accuracy" if heldout.labels is not None else "agreement", fp32=fp32,
                           int8_before=before, int8_after=after, ranked=returned, within_budget=fp32 - after <= budget,
                           seconds=round(time.perf_counter() - t0, 3))
    return result, done, returned


def float_matmuls(model) -> list[str]:
    """MatMul operations of an OpenVINO model whose weight input has no FakeQuantize before it (fp32 ones)."""
    out = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "MatMul":
            continue
        node = op.input_value(1).get_node()
        while node.get_type_name() in ("Convert", "Transpose", "Reshape") and node.get_input_size():
            node = node.input_value(0).get_node()
        if node.get_type_name() not in ("FakeQuantize", "Multiply", "Subtract"):
            out.append(op.get_friendly_name())
    return out
