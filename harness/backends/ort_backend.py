"""ONNX Runtime, CPU execution provider.

The graph ONNX Runtime optimises at load (fusions, QDQ pairs folded into integer kernels) is saved beside the
artifact the first time (SessionOptions.optimized_model_filepath, <artifact dir>/ort-optimized-<key>.onnx, keyed
by the model file, the ONNX Runtime version and this CPU's instruction sets) and loaded from there afterwards; the
record says whether it was (effective.engine.compile_cache, phases.compile_cached). Its MatMul counts are the
int8 read-back.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from harness.contracts import EngineOptions, EngineReport, OrtEngine, OrtGraphOps, option

from .base import Backend, BackendUnavailable


@dataclass(frozen=True)
class OrtSettings(EngineOptions):
    spinning: bool = option(True, "let ONNX Runtime's intra-op threads spin while waiting (otherwise they sleep)",
                            flag="--no-spinning")


class OrtBackend(Backend):
    name = "onnxruntime"
    Settings = OrtSettings
    engine_module = "onnxruntime"

    @classmethod
    def int8_format(cls, config):
        return {"int8": "qdq", "int8-dynamic": "dynamic"}.get(config.precision)

    def batch_dependent_outputs(self) -> bool:
        return self.config.precision == "int8-dynamic"  # activation scales per call, shared by the batch

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
        cached = optimized_path(self.artifact.onnx_path, ort.__version__)
        self.compile_cached = os.path.isfile(cached)
        source = cached if self.compile_cached else self.artifact.onnx_path
        if not self.compile_cached:
            partial = f"{cached}.{os.getpid()}.tmp"
            opts.optimized_model_filepath = partial
        self.session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        if not self.compile_cached and os.path.isfile(partial):
            os.replace(partial, cached)
        self.op_counts = None
        if self.config.precision != "fp32":  # read back which MatMuls the optimiser left quantized
            self.op_counts = quantized_op_counts(cached)
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
                compile_cache="hit" if self.compile_cached else "miss",
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


def optimized_path(onnx_path: str, version: str) -> str:
    """Where the optimised graph of `onnx_path` is kept: beside it, keyed by the file, the ONNX Runtime version and
    this CPU's instruction sets (the optimiser picks kernels by them)."""
    st = os.stat(onnx_path)
    key = hashlib.sha256(json.dumps([os.path.basename(onnx_path), st.st_size, int(st.st_mtime), version,
                                     _cpu_flags()]).encode()).hexdigest()[:16]
    return os.path.join(os.path.dirname(onnx_path), f"ort-optimized-{key}.onnx")


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("flags")), "")
    except OSError:
        return ""


def quantized_op_counts(path: str) -> OrtGraphOps:
    """How many MatMul-like nodes of the optimised graph run in int8 and how many in fp32 (the read-back), counted
    once and kept beside the graph."""
    import onnx

    counts_path = f"{path}.ops.json"
    if os.path.isfile(counts_path):
        with open(counts_path) as f:
            return OrtGraphOps.from_json(json.load(f))
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - the dump is evidence only; its absence is said, not fatal
        return OrtGraphOps(error=f"optimised graph not readable: {type(exc).__name__}")
    kinds = [n.op_type for n in model.graph.node]
    counts = OrtGraphOps(int8_matmuls=sum(k in INT8_MATMULS for k in kinds), fp32_matmuls=sum(k in FP32_MATMULS for k in kinds),
                         quantize_linear=kinds.count("QuantizeLinear"), dequantize_linear=kinds.count("DequantizeLinear"))
    partial = f"{counts_path}.{os.getpid()}.tmp"
    with open(partial, "w") as f:
        json.dump(counts.to_json(), f)
    os.replace(partial, counts_path)
    return counts
