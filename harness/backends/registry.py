"""Backends (inference engines) by name, as "module:Class" strings imported lazily: an engine is imported
only in the worker that runs it. Adding an engine is one module in harness/backends plus one line here."""

from __future__ import annotations

from harness.models.registry import load_entry

BACKENDS = {
    "torch": "harness.backends.torch_backend:TorchBackend",
    "onnxruntime": "harness.backends.ort_backend:OrtBackend",
    "openvino": "harness.backends.openvino_backend:OpenVinoBackend",
    "deepsparse": "harness.backends.deepsparse_backend:DeepSparseBackend",
    "torch-cuda": "harness.backends.torch_cuda:TorchCudaBackend",
    "sklearn": "harness.backends.sklearn_backend:SklearnBackend",
    # not an engine: measures the machine's GEMM peak inside a pinned worker
    "gemm": "harness.backends.gemm:GemmCalibration",
}

# backends a user may name on the command line (gemm is internal)
USER_BACKENDS = tuple(b for b in BACKENDS if b != "gemm")


def backend_class(name: str):
    return load_entry(BACKENDS, "backend", name)
