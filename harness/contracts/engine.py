"""What an engine says about itself after loading a model: the engine report (EngineReport.engine, a record's
effective.engine), one shape per backend, and the evidence of which kernel ran (KernelInfo.evidence, a
record's effective.kernel_evidence), one shape per kernel.

Each shape is a contract whose required fields are the ones its backend has always written, so the shapes
tell each other apart (harness.contracts.codec: a mapping matches a member of a union only when all its keys
are fields). A mapping of no known shape (a test engine's, or a key a newer harness added) stays a plain
mapping: readable, not typed. Records keep the same JSON; no schema version changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codec import Contract
from .int8 import Quantization

# -- engine reports -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchEngine(Contract):
    """torch (eager, CPU): the thread pools and what ran in int8."""

    num_threads: int
    num_interop_threads: int
    mkldnn: bool
    autocast_bf16: bool
    int8_dynamic_linear_layers: int | None = None  # --precision int8-dynamic: Linear layers swapped to int8
    quantized_engine: str | None = None  # torch.backends.quantized.engine ("x86", "fbgemm", "onednn")


@dataclass(frozen=True)
class OrtGraphOps(Contract):
    """MatMul-like nodes of ONNX Runtime's optimised graph by precision (the int8 read-back), or why not read."""

    int8_matmuls: int | None = None
    fp32_matmuls: int | None = None
    quantize_linear: int | None = None
    dequantize_linear: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class OrtEngine(Contract):
    """ONNX Runtime: the session's options as read back."""

    providers: tuple[str, ...]
    intra_op_num_threads: int
    inter_op_num_threads: int
    allow_spinning: str | bool | None  # the session config entry ("1"/"0"), or the request where unreadable
    intra_op_thread_affinities: str | None
    graph_optimization_level: str
    optimized_graph_ops: OrtGraphOps | None = None  # int8 runs only
    quantization: Quantization | None = None  # the artifact's int8 chain (as effective.quantization)
    compile_cache: str | None = None  # hit: the optimised graph saved beside the artifact was loaded; miss: made now


@dataclass(frozen=True)
class OpenVinoEngine(Contract):
    """OpenVINO: compiled-model properties (lower-cased names; None where this plugin does not expose one)."""

    inference_precision_hint: str | None
    inference_num_threads: int | None
    num_streams: int | str | None
    enable_cpu_pinning: bool | None
    performance_hint: str | None
    optimal_number_of_infer_requests: int | None
    execution_mode_hint: str | None
    requested: dict[str, str]  # the properties the backend asked for, as text
    matmul_precisions: dict[str, int] | None = None  # FullyConnected/MatMul nodes by runtime precision: int8, float
    quantization: Quantization | None = None
    compile_cache: str | None = None  # hit: CACHE_DIR held this model's compiled blob; miss: compiled now


@dataclass(frozen=True)
class DeepSparseEngine(Contract):
    """DeepSparse: the engine's own description (its start-up line and the Engine's attributes)."""

    version: str | None
    engine_line: str | None
    system: str | None
    binary: str | None
    edition: str | None
    num_cores: int
    num_streams: int | None
    scheduler: str
    batch_size: int
    input_shapes: tuple[tuple[int, ...], ...]
    fraction_of_supported_ops: float | None
    cpu_avx_type: str | None
    cpu_vnni: bool | None
    quantization: Quantization | None = None


@dataclass(frozen=True)
class SklearnEngine(Contract):
    """scikit-learn decision trees."""

    library: str
    version: str
    estimator: str
    method: str
    node_count: int
    max_depth: int
    leaves: int
    threads_requested: int
    threads_note: str | None = None
    precision_note: str | None = None


@dataclass(frozen=True)
class CudaEngine(Contract):
    """torch on a CUDA device (timed with CUDA events)."""

    gpu: str
    gpu_memory_bytes: int
    cuda: str | None
    tf32_matmul: bool
    timer: str


@dataclass(frozen=True)
class GemmEngine(Contract):
    """The GEMM calibration (harness.runner.calibrate): the FLOPs of one call and the library that ran it."""

    flops_per_call: int | float
    gemm_engine: str


# the order decoding tries; a shape of none of these stays a mapping
EngineDetails = TorchEngine | OrtEngine | OpenVinoEngine | DeepSparseEngine | SklearnEngine | CudaEngine | GemmEngine


# -- kernel evidence --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsrEvidence(Contract):
    """torch --kernel sparse: which Linear layers were swapped to CSR (harness.backends.sparse_kernels)."""

    swapped_layers: int
    dense_layers: int
    threshold: float
    threshold_source: str
    format: str
    mkl: bool
    swapped_weight_fraction: float
    min_swapped_sparsity: float | None = None
    max_dense_sparsity: float | None = None
    reason: str | None = None  # when no layer was swapped

    def describe(self) -> str:
        return self.reason or (f"{self.swapped_layers} layers swapped to CSR, {self.dense_layers} dense, "
                               f"threshold {self.threshold:g}")


@dataclass(frozen=True)
class OpenVinoSparseEvidence(Contract):
    """OpenVINO --kernel sparse: whether sparse-weights decompression engaged in the compiled graph."""

    option: str
    requested_rate: float | str | None
    effective_rate: float | None
    fully_connected_nodes: int
    sparse_weight_nodes: int
    primitive_types: dict[str, int]
    runtime_precisions: tuple[str, ...]
    cpu_has_amx: bool
    sparse_nodes: tuple[str, ...] = ()  # the first 20
    reason: str | None = None  # when it did not engage

    def describe(self) -> str:
        return self.reason or (f"{self.sparse_weight_nodes} of {self.fully_connected_nodes} FullyConnected nodes "
                               "on sparse weights")


@dataclass(frozen=True)
class DeepSparseEvidence(Contract):
    """DeepSparse picks its kernels itself; what it says and how sparse the model is."""

    engine: str | None
    binary: str | None
    fraction_of_supported_ops: float | None
    requested_kernel: str
    note: str
    prunable_weight_sparsity: float | None = None
    model_zero_fraction: float | None = None

    def describe(self) -> str:
        return self.engine or self.note


@dataclass(frozen=True)
class DenseEvidence(Contract):
    """A dense kernel: zeros are multiplied like any value, and why."""

    reason: str

    def describe(self) -> str:
        return self.reason


KernelEvidence = CsrEvidence | OpenVinoSparseEvidence | DeepSparseEvidence | DenseEvidence


def describe_evidence(evidence) -> str:
    """Which kernel ran and why, in one line, for any evidence a record holds (a mapping: its reason)."""
    if evidence is None:
        return ""
    if isinstance(evidence, dict):
        return str(evidence.get("reason") or "")
    return evidence.describe()
