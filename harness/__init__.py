"""Benchmarking and cost estimation for pruned neural networks on CPUs.

The package import stays light on purpose: engines (torch, onnxruntime, openvino, deepsparse)
are imported only inside the modules that use them, so `harness --help` is instant and the
DeepSparse worker can import `harness.runner.worker` from a different interpreter.
"""

__version__ = "0.1.0"
