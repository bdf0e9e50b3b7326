"""How an int8 model was made: its calibration, the sensitivity pass that returned layers to fp32, and the chain
(Effective.quantization of a record, Artifact.quantization of the export stage, the engine reports' copy)."""

from __future__ import annotations

from dataclasses import dataclass

from .codec import Contract


@dataclass(frozen=True)
class Calibration(Contract):
    """The examples an int8 model's activation ranges came from."""

    source: str  # "128 examples of sst2 train", "16 generated inputs (seed 7)"
    examples: int


@dataclass(frozen=True)
class SensitivityPass(Contract):
    """int8 layers returned to fp32 until the accuracy drop on held-back examples of the training split is within
    budget (harness.quantization.sensitivity). Accuracies are fractions; `max_drop` and `drop` in points."""

    max_drop: float
    examples: int
    source: str  # "512 examples of sst2 train (held back)", or generated inputs
    metric: str  # "accuracy" (labels) or "agreement" (with the fp32 model, without labels)
    fp32: float
    int8_before: float
    int8_after: float
    ranked: tuple[str, ...] = ()  # every quantized layer, most harmful first
    harm: tuple[float, ...] = ()  # ... its logit error vs fp32 when it alone is quantized
    within_budget: bool = True
    seconds: float | None = None

    @property
    def drop(self) -> float:
        return round(100.0 * (self.fp32 - self.int8_after), 4)


@dataclass(frozen=True)
class Quantization(Contract):
    """How an int8 model was made: the chain of a record's precision (Effective.quantization)."""

    format: str  # harness.quantization.quantize FORMATS: qdq, dynamic, nncf, matmulinteger
    method: str  # in words
    per_channel: bool | None = None  # weight scales per output channel (else per tensor)
    calibration_method: str | None = None  # minmax, percentile, entropy (static formats)
    calibration: Calibration | None = None
    smoothquant_alpha: float | None = None  # activation outliers migrated into the weights (SmoothQuant), or None
    fp32_layers: tuple[str, ...] = ()  # every quantizable layer left in fp32: classifier, pooler, and returned ones
    returned_to_fp32: tuple[str, ...] = ()  # by the sensitivity pass, most harmful first
    sensitivity: SensitivityPass | None = None
    int8_weight_zero_fraction: float | None = None
    bytes: int | None = None
    chain: str | None = None  # what was done to the model, in order: "post-training 40% heads+neurons -> int8 qdq (...)"
    seconds: float | None = None  # to make it (calibration, smoothing, sensitivity pass), when it was made
