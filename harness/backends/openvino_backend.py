"""OpenVINO, CPU plugin. fp32 unless bf16 is asked for: on CPUs with avx512_bf16 OpenVINO otherwise
silently picks bf16 (seen on this development machine with 2026.4)."""

from __future__ import annotations

from dataclasses import dataclass

from ..contracts import Contract, EngineReport, RecordError
from .base import Backend


@dataclass(frozen=True)
class OpenVinoSettings(Contract):
    streams: int = 1  # NUM_STREAMS
    openvino_sparse_rate: float | None = None  # --kernel sparse: CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE (default 0.8)

    def __post_init__(self):
        if isinstance(self.streams, bool) or not isinstance(self.streams, int) or self.streams < 1:
            raise RecordError(f"streams: expected a positive integer, got {self.streams!r}")
        if self.openvino_sparse_rate is not None and not 0.0 <= self.openvino_sparse_rate <= 1.0:
            raise RecordError(f"openvino_sparse_rate: expected a fraction in [0, 1], got {self.openvino_sparse_rate!r}")


class OpenVinoBackend(Backend):
    name = "openvino"
    Settings = OpenVinoSettings

    @classmethod
    def available(cls):
        try:
            import openvino
        except ImportError:
            return None
        return openvino.get_version()

    def load(self):
        import openvino as ov

        core = ov.Core()
        model = core.read_model(self.artifact.onnx_path)
        streams = self.options.streams
        props = {
            "INFERENCE_PRECISION_HINT": "bf16" if self.config.precision == "bf16" else "f32",
            "INFERENCE_NUM_THREADS": self.threads,
            "NUM_STREAMS": streams,
            "ENABLE_CPU_PINNING": bool(self.settings.pinning),
            "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        }
        sparse_rate = self.options.openvino_sparse_rate
        if self.config.kernel == "sparse":
            # decompress weights whose sparsity is above this rate (OpenVINO's sparse-weights option)
            props["CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE"] = float(sparse_rate if sparse_rate is not None else 0.8)
        self.requested = props
        self.compiled = core.compile_model(model, "CPU", props)
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.outputs[0]

    def infer(self, prepared):
        return self.request.infer(prepared)[self.output]

    def _prop(self, name):
        try:
            value = self.compiled.get_property(name)
        except Exception:  # property not exposed by this plugin version
            return None
        return value if isinstance(value, (int, float, bool)) else str(value)

    def effective_settings(self):
        precision = normalize_precision(self._prop("INFERENCE_PRECISION_HINT"))
        threads = self._prop("INFERENCE_NUM_THREADS")
        return EngineReport(
            precision=precision,
            threads=threads,
            engine={
                name.lower(): self._prop(name)
                for name in (
                    "INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS", "ENABLE_CPU_PINNING",
                    "PERFORMANCE_HINT", "OPTIMAL_NUMBER_OF_INFER_REQUESTS", "EXECUTION_MODE_HINT",
                )
            } | {"requested": {k: str(v) for k, v in self.requested.items()}},
        )

    def kernel_info(self):
        if self.config.kernel != "sparse":
            return super().kernel_info()
        from .sparse_kernels import openvino_sparse_evidence

        return openvino_sparse_evidence(self)


def normalize_precision(value) -> str:
    """OpenVINO reports element types as f32, <Type: 'float32'>, bf16, <Type: 'bfloat16'>, ..."""
    text = str(value or "").lower()
    for names, short in ((("bfloat16", "bf16"), "bf16"), (("float16", "f16"), "fp16"), (("float32", "f32"), "fp32")):
        if any(n in text for n in names):
            return short
    return text or "unknown"
