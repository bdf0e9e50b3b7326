"""Sparse kernels for pruned weights, and the evidence of whether one ran.

Unstructured sparsity saves time only when a kernel skips the zeros. Two engines are handled here:

- PyTorch: `swap_to_sparse` replaces each nn.Linear whose weight sparsity is at or above a threshold by
  `CsrLinear`, which keeps the weight as a torch.sparse CSR tensor and multiplies with MKL's sparse BLAS
  (torch.addmm on a CSR matrix). Layers below the threshold stay dense, where the dense GEMM is faster.
- OpenVINO: the backend sets CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE; `openvino_sparse_evidence` reads the
  compiled model's execution graph to find out whether any FullyConnected node really used sparse weights,
  and reports kernel "dense" with the reasons when none did (it is never claimed on the strength of the
  option alone).

Runs inside the worker (main environment); torch and openvino are imported inside the functions.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

from harness.contracts import CsrEvidence, KernelInfo, OpenVinoSparseEvidence

# Minimum weight sparsity at which a Linear layer goes to the CSR kernel: the measured crossover.
# benchmarks/sparse_crossover.py, this development machine (AMD EPYC Zen 5, 2 cores shared with other work,
# torch 2.13.0+cpu with MKL), 1 thread, x of 128 tokens, 15 interleaved rounds, speedup = dense/CSR p50
# (results/sparse/crossover-t1.md):
#   W 3072x768 (intermediate): 0.56x at 50%, 0.86x at 60%, 1.41x at 70%, 1.76x at 80%, 3.3x at 90%, 12x at 95%
#   W 768x3072 (output):       0.40x at 50%, 0.66x at 70%, 0.76x at 75%, 1.41x at 80%, 2.1x at 90%, 7x at 95%
#   W 768x768  (Q/K/V/attn):   0.24x at 50%, 0.98x at 70%, 1.22x at 75%, 1.43x at 80%, 2.7x at 90%, 4.7x at 95%
# CSR wins from 70% (3072x768), 75% (768x768) and 80% (768x3072) upwards, so 0.8 is the lowest sparsity at which
# every BERT-base layer shape gains; below about 70% CSR is slower than the dense GEMM for all of them.
CSR_SPARSITY_THRESHOLD = 0.8
CROSSOVER_SOURCE = "benchmarks/sparse_crossover.py (results/sparse/crossover-t1.md)"

# OpenVINO's CPU plugin decompresses sparse weights only for int8 (u8/i8) weights of FullyConnected layers
# on CPUs with AMX (4th-generation Xeon and later); fp32 weights always take the dense path.
OPENVINO_SPARSE_NEEDS = ("amx_int8", "amx_tile")


def sparsity_of(weight) -> float:
    """Fraction of exactly-zero entries of a tensor (0.0 for an empty one)."""
    import torch

    n = weight.numel()
    return 1.0 - int(torch.count_nonzero(weight.detach())) / n if n else 0.0


@functools.lru_cache(maxsize=None)
def csr_linear_class():
    """The CsrLinear module class, defined on first use: importing this module must not import torch
    (the OpenVINO worker imports it too, and torch would add seconds and hundreds of MB to that worker)."""
    import torch
    from torch import nn

    class CsrLinear(nn.Module):
        """y = x W^T + b with W stored as a torch.sparse CSR matrix (MKL sparse BLAS on CPU).

        Computes (W x^T + b)^T with one addmm, whose sparse operand is W (out x in), the layout MKL's
        sparse-times-dense routine takes, then restores x's leading dimensions.
        """

        def __init__(self, linear: nn.Linear, sparsity: float):
            super().__init__()
            self.in_features = linear.in_features
            self.out_features = linear.out_features
            self.sparsity = sparsity
            weight = linear.weight.detach().to(torch.float32)
            with warnings.catch_warnings():  # "sparse CSR support is in beta": known, and parity is checked
                warnings.simplefilter("ignore", UserWarning)
                self.weight_csr = weight.to_sparse_csr()
            self.nnz = int(self.weight_csr.values().numel())
            bias = linear.bias.detach().to(torch.float32) if linear.bias is not None else None
            self.bias_column = bias.reshape(-1, 1).contiguous() if bias is not None else None

        def forward(self, x):
            lead = x.shape[:-1]
            x2 = x.reshape(-1, self.in_features).t()
            if self.bias_column is not None:
                y = torch.addmm(self.bias_column, self.weight_csr, x2)
            else:
                y = torch.sparse.mm(self.weight_csr, x2)
            return y.t().reshape(*lead, self.out_features)

        def extra_repr(self):
            return f"in_features={self.in_features}, out_features={self.out_features}, sparsity={self.sparsity:.3f}, nnz={self.nnz}"

    return CsrLinear


def __getattr__(name: str):
    if name == "CsrLinear":
        return csr_linear_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def csr_linear(linear, sparsity: float | None = None):
    """A CsrLinear computing the same function as `linear` (an nn.Linear)."""
    cls = csr_linear_class()
    return cls(linear, sparsity_of(linear.weight) if sparsity is None else sparsity)


def _set_submodule(model, name: str, module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def swap_to_sparse(model, override: float | None = None) -> KernelInfo:
    """Replace, in place, every nn.Linear of `model` whose weight sparsity is at or above the threshold by a
    CsrLinear; the others stay dense. Returns which kernel ran, with evidence.

    The threshold is `override` (the torch backend's sparse_threshold setting) when set, else
    CSR_SPARSITY_THRESHOLD (the measured crossover); a layer without zeros is never swapped. Kernel is
    "sparse-csr" when at least one layer was swapped, "dense" otherwise.
    """
    import torch
    from torch import nn

    if override is not None and not 0.0 <= float(override) <= 1.0:
        raise ValueError(f"settings.sparse_threshold: expected a fraction in [0, 1], got {override!r}")
    threshold = float(override) if override is not None else CSR_SPARSITY_THRESHOLD
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    swapped, dense = {}, {}
    for name, module in linears:
        s = sparsity_of(module.weight)
        (swapped if s >= threshold and s > 0.0 else dense)[name] = s
    numel = {name: m.weight.numel() for name, m in linears}
    for name, module in linears:
        if name in swapped:
            _set_submodule(model, name, csr_linear(module, swapped[name]))
    total = sum(numel.values())
    max_dense = round(max(dense.values()), 6) if dense else None
    evidence = CsrEvidence(
        swapped_layers=len(swapped),
        dense_layers=len(dense),
        threshold=threshold,
        threshold_source="backend setting sparse_threshold" if override is not None else f"measured crossover, {CROSSOVER_SOURCE}",
        format="torch.sparse_csr, torch.addmm (MKL sparse BLAS)" if torch.backends.mkl.is_available()
        else "torch.sparse_csr, torch.addmm (native kernel: this torch build has no MKL)",
        mkl=torch.backends.mkl.is_available(),
        swapped_weight_fraction=round(sum(numel[n] for n in swapped) / total, 6) if total else 0.0,
        min_swapped_sparsity=round(min(swapped.values()), 6) if swapped else None,
        max_dense_sparsity=max_dense,
        reason=None if swapped else (f"no Linear layer has weight sparsity >= {threshold:g} "
                                     f"(highest {max_dense}); every layer ran the dense kernel"),
    )
    return KernelInfo("sparse-csr" if swapped else "dense", evidence)


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def _rt(info, key: str):
    if key not in info:
        return None
    value = info[key]
    try:
        return value.astype(str)
    except AttributeError:
        return str(value)


def openvino_sparse_evidence(backend) -> KernelInfo:
    """Whether OpenVINO's sparse-weights decompression engaged for `backend` (a loaded OpenVinoBackend).

    Reads every FullyConnected node of the compiled model's execution graph (get_runtime_model()): a node
    that uses sparse weights names it in its primitive type. Kernel "openvino-sparse-weights" when at
    least one does; otherwise "dense", with the reasons this CPU and model did not qualify.
    """
    requested = (getattr(backend, "requested", {}) or {}).get("CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE")
    effective_rate = None
    try:
        effective_rate = float(backend.compiled.get_property("CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE"))
    except Exception:  # property not exposed by this plugin version
        pass
    fc_nodes, sparse_nodes = 0, []
    primitives: dict[str, int] = {}
    weight_precisions: set[str] = set()
    for op in backend.compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if _rt(info, "layerType") != "FullyConnected":
            continue
        fc_nodes += 1
        primitive = _rt(info, "primitiveType") or "unknown"
        primitives[primitive] = primitives.get(primitive, 0) + 1
        weight_precisions.add(_rt(info, "runtimePrecision") or "unknown")
        if "sparse" in primitive.lower():
            sparse_nodes.append(_rt(info, "originalLayersNames") or op.get_friendly_name())
    has_amx = all(f in _cpu_flags() for f in OPENVINO_SPARSE_NEEDS)
    evidence = OpenVinoSparseEvidence(
        option="CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE",
        requested_rate=requested,
        effective_rate=effective_rate,
        fully_connected_nodes=fc_nodes,
        sparse_weight_nodes=len(sparse_nodes),
        primitive_types=primitives,
        runtime_precisions=tuple(sorted(weight_precisions)),
        cpu_has_amx=has_amx,
    )
    if sparse_nodes:
        return KernelInfo("openvino-sparse-weights", evidence.replace(sparse_nodes=tuple(sparse_nodes[:20])))
    reasons = [f"none of the {fc_nodes} FullyConnected nodes in the compiled graph uses sparse weights"]
    if not has_amx:
        reasons.append("this CPU has no AMX (amx_tile/amx_int8), which OpenVINO's sparse-weights decompression requires")
    if not any(p.lower() in ("i8", "u8") for p in weight_precisions):
        reasons.append("the decompression applies only to int8 weights; this graph's FullyConnected layers run in "
                       + ", ".join(sorted(weight_precisions)))
    return KernelInfo("dense", evidence.replace(reason="; ".join(reasons)))
