"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness.contracts import Contract, EngineReport, OrtEngine, OrtGraphOps, check_options, option

from .base import Backend, BackendUnavailable


@dataclass(frozen=True)
class OrtSettings(Contract):
    spinning: bool = option(True, "let ONNX Runtime's intra-op threads spin while waiting (otherwise they sleep)",
                            flag="--no-spinning")

    def __post_init__(self):
        check_options(self, "")  # Backend.parse_settings adds where it was set


class OrtBackend(Backend):
    name = "onnxruntime"
    Settings = OrtSettings

    @classmethod
    def int8_format(cls, config):
        return {"int8": "qdq", "int8-dynamic": "dynamic"}.get(config.precision)

    def batch_dependent_outputs(self) -> bool:
        return self.config.precision == "int8-dynamic"  # activation scales per call, shared by the batch

    @classmethod
    def available(cls):
        try:
            import onnxruntime
        except ImportError:
            return None
        return onnxruntime.__version__

    def load(self):
        import onnxruntime as ort

        if self.config.precision == "bf16":
            raise BackendUnavailable("onnxruntime's CPU provider offers fp32 and int8, not bf16")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        spinning = "1" if self.options.spinning else "0"
        opts.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        self.affinity = None
        cpus = sorted(os.sched_getaffinity(0))
        if self.settings.pinning and self.threads > 1 and len(cpus) >= self.threads:
            # one entry per pool thread (threads - 1; the calling thread is the process's own),
            # logical processor ids counted from 1
            self.affinity = ";".join(str(c + 1) for c in cpus[1 : self.threads])
            opts.add_session_config_entry("session.intra_op_thread_affinities", self.affinity)
        self.optimized = None
        if self.config.precision != "fp32":  # read back which MatMuls the optimiser left quantized
            import tempfile

            self.optimized = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False).name
            opts.optimized_model_filepath = self.optimized
        self.session = ort.InferenceSession(self.artifact.onnx_path, opts, providers=["CPUExecutionProvider"])
        self.op_counts = quantized_op_counts(self.optimized) if self.optimized else None
        self.spinning = spinning
        self.output_name = self.session.get_outputs()[0].name

    def infer(self, prepared):
        return self.session.run([self.output_name], prepared)[0]

    def effective_settings(self):
        opts = self.session.get_session_options()
        int8 = bool(self.op_counts and self.op_counts.int8_matmuls)
        return EngineReport(
            precision=self.config.precision if int8 else "fp32",
            threads=opts.intra_op_num_threads,
            engine=OrtEngine(
                optimized_graph_ops=self.op_counts, quantization=self.artifact.quantization,
                providers=tuple(self.session.get_providers()),
                intra_op_num_threads=opts.intra_op_num_threads,
                inter_op_num_threads=opts.inter_op_num_threads,
                allow_spinning=opts.get_session_config_entry("session.intra_op.allow_spinning")
                if hasattr(opts, "get_session_config_entry") else self.spinning,
                intra_op_thread_affinities=self.affinity,
                graph_optimization_level=str(opts.graph_optimization_level),
            ),
        )


INT8_MATMULS = ("QLinearMatMul", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QGemm",
                "QAttention", "DynamicQuantizeLSTM")
FP32_MATMULS = ("MatMul", "Gemm", "FusedMatMul", "FusedGemm")


def quantized_op_counts(path: str) -> OrtGraphOps:
    """How many MatMul-like nodes of the optimised graph run in int8 and how many in fp32 (the read-back)."""
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - the dump is evidence only; its absence is said, not fatal
        return OrtGraphOps(error=f"optimised graph not readable: {type(exc).__name__}")
    finally:
        os.unlink(path)
    kinds = [n.op_type for n in model.graph.node]
    return OrtGraphOps(int8_matmuls=sum(k in INT8_MATMULS for k in kinds), fp32_matmuls=sum(k in FP32_MATMULS for k in kinds),
                       quantize_linear=kinds.count("QuantizeLinear"), dequantize_linear=kinds.count("DequantizeLinear"))
