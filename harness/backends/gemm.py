"""Not an engine: a square fp32/bf16 GEMM, to measure this machine's practical peak (the roofline).

Two GEMM libraries are tried, and the calibration keeps the faster: torch's (MKL, which on AMD CPUs
does not take its AVX-512 paths) and ONNX Runtime's MatMul (MLAS). On this project's AMD Genoa
development machine MLAS is about twice as fast per core, so a torch-only peak would let engines
appear to run above 100% of the roofline.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.contracts import EngineOptions, EngineReport, GemmEngine

from .base import Backend

GEMM_ENGINES = ("torch", "onnxruntime")


@dataclass(frozen=True)
class GemmSettings(EngineOptions):
    gemm_engine: str = "torch"  # one of GEMM_ENGINES
    gemm_size: int = 2048  # n of the n x n x n product


class GemmCalibration(Backend):
    name = "gemm"
    Settings = GemmSettings
    needs_onnx = False
    engine_module = "torch"

    def load(self):
        import numpy as np

        n = self.options.gemm_size
        self.flops = 2 * n**3
        self.engine = self.options.gemm_engine
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        if self.engine == "onnxruntime":
            self._load_ort(a, b)
        else:
            import torch

            torch.set_num_threads(self.threads)
            dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float32
            self.a, self.b = torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)
            self._call = lambda: self.a @ self.b

    def _load_ort(self, a, b):
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            [helper.make_node("MatMul", ["A", "B"], ["C"])], "gemm",
            [helper.make_tensor_value_info("A", TensorProto.FLOAT, list(a.shape)),
             helper.make_tensor_value_info("B", TensorProto.FLOAT, list(b.shape))],
            [helper.make_tensor_value_info("C", TensorProto.FLOAT, [a.shape[0], b.shape[1]])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        feed = {"A": a, "B": b}
        self._call = lambda: session.run(None, feed)
        _ = onnx  # the helper module above is part of onnx

    def infer(self, prepared):
        return self._call()

    def to_numpy(self, result):
        return None

    def effective_settings(self):
        return EngineReport(precision=self.config.precision, threads=self.threads,
                            engine=GemmEngine(flops_per_call=self.flops, gemm_engine=self.engine))
