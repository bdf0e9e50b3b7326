"""OpenVINO, CPU plugin. fp32 unless bf16 is asked for: on CPUs with avx512_bf16 OpenVINO otherwise
silently picks bf16 (seen on this development machine with 2026.4).

Compiled models are cached beside the artifact (OpenVINO's CACHE_DIR, <artifact dir>/openvino-cache): a second
configuration of the same model and properties imports the compiled blob instead of compiling again. The
record says whether it did (effective.engine.compile_cache, phases.compile_cached)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness.contracts import EngineOptions, EngineReport, OpenVinoEngine, option

from .base import Backend, BackendUnavailable
from .sparse_kernels import openvino_sparse_evidence

DEFAULT_SPARSE_RATE = 0.8  # the decompression rate asked for with --kernel sparse unless set


@dataclass(frozen=True)
class OpenVinoSettings(EngineOptions):
    streams: int = option(1, "OpenVINO NUM_STREAMS", flag="--streams", metavar="N", minimum=1)
    openvino_sparse_rate: float | None = option(
        None, "OpenVINO --kernel sparse: CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE", flag="--openvino-sparse-rate",
        metavar="F", minimum=0, maximum=1, default_text=f"{DEFAULT_SPARSE_RATE:g}")
    quantizer: str = option("nncf", "OpenVINO --precision int8: NNCF post-training quantization (nncf) or the ONNX QDQ "
                            "graph (qdq)", flag="--quantizer", choices=("nncf", "qdq"))


class OpenVinoBackend(Backend):
    name = "openvino"
    Settings = OpenVinoSettings
    engine_module = "openvino"

    @classmethod
    def int8_format(cls, config):
        if config.precision != "int8":
            return None
        return cls.parse_settings(config.backend_settings).quantizer

    @classmethod
    def engine_version(cls, module):
        return module.get_version()

    def load(self):
        import openvino as ov

        if self.config.precision == "int8-dynamic":
            raise BackendUnavailable("openvino quantizes statically (NNCF or a QDQ graph): use --precision int8")
        core = ov.Core()
        self.cache_dir = os.path.join(self.artifact.dir, "openvino-cache") if self.artifact.dir else None
        before = _blobs(self.cache_dir)
        if self.cache_dir:
            core.set_property({"CACHE_DIR": self.cache_dir})
        streams = self.options.streams
        props = {
            # f32 for fp32 and int8 alike: int8 layers run in int8, the rest must not drop to bf16 by themselves
            "INFERENCE_PRECISION_HINT": "bf16" if self.config.precision == "bf16" else "f32",
            "INFERENCE_NUM_THREADS": self.threads,
            "NUM_STREAMS": streams,
            "ENABLE_CPU_PINNING": bool(self.settings.pinning),
            "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        }
        sparse_rate = self.options.openvino_sparse_rate
        if self.config.kernel == "sparse":
            # decompress weights whose sparsity is above this rate (OpenVINO's sparse-weights option)
            props["CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE"] = float(sparse_rate if sparse_rate is not None else DEFAULT_SPARSE_RATE)
        self.requested = props
        # from the file's path, so that a cached blob is imported without reading and converting the model first
        self.compiled = core.compile_model(self.artifact.openvino_ir_path or self.artifact.onnx_path, "CPU", props)
        self.compile_cached = bool(before) and _blobs(self.cache_dir) == before if self.cache_dir else None
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
        layers = matmul_precisions(self.compiled)
        if layers.get("int8", 0) > 0:
            precision = "int8"
        threads = self._prop("INFERENCE_NUM_THREADS")
        return EngineReport(
            precision=precision,
            threads=threads,
            engine=OpenVinoEngine(
                **{name.lower(): self._prop(name) for name in (
                    "INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS", "ENABLE_CPU_PINNING",
                    "PERFORMANCE_HINT", "OPTIMAL_NUMBER_OF_INFER_REQUESTS", "EXECUTION_MODE_HINT",
                )},
                requested={k: str(v) for k, v in self.requested.items()}, matmul_precisions=layers,
                quantization=self.artifact.quantization,
                compile_cache=None if self.compile_cached is None else ("hit" if self.compile_cached else "miss"),
            ),
        )

    def kernel_info(self):
        if self.config.kernel != "sparse":
            return super().kernel_info()

        return openvino_sparse_evidence(self)


def _blobs(directory: str | None) -> set[str]:
    """The compiled-model blobs in OpenVINO's cache directory."""
    try:
        return {f for f in os.listdir(directory) if f.endswith(".blob")} if directory else set()
    except OSError:
        return set()


def normalize_precision(value) -> str:
    """OpenVINO reports element types as f32, <Type: 'float32'>, bf16, <Type: 'bfloat16'>, ..."""
    text = str(value or "").lower()
    for names, short in ((("bfloat16", "bf16"), "bf16"), (("float16", "f16"), "fp16"), (("float32", "f32"), "fp32")):
        if any(n in text for n in names):
            return short
    return text or "unknown"


def matmul_precisions(compiled) -> dict:
    """How many FullyConnected/MatMul nodes of the compiled model's execution graph run in int8 and how many
    in floating point: the precision read back from the engine, not assumed from the request."""
    counts = {"int8": 0, "float": 0}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = str(info["layerType"].astype(str)) if "layerType" in info else ""
        if layer not in ("FullyConnected", "MatMul"):
            continue
        runtime = str(info["runtimePrecision"].astype(str)).lower() if "runtimePrecision" in info else ""
        counts["int8" if runtime in ("i8", "u8") else "float"] += 1
    return counts
