"""Not an engine: a square fp32/bf16 GEMM through torch, to measure this machine's practical peak."""

from __future__ import annotations

from .base import Backend


class GemmCalibration(Backend):
    name = "gemm"
    needs_onnx = False
    size = 2048

    @classmethod
    def available(cls):
        try:
            import torch
        except ImportError:
            return None
        return torch.__version__

    def load(self):
        import torch

        torch.set_num_threads(self.threads)
        dtype = torch.bfloat16 if self.config["precision"] == "bf16" else torch.float32
        gen = torch.Generator().manual_seed(0)
        n = int(self.settings.get("gemm_size", self.size))
        self.a = torch.randn(n, n, generator=gen).to(dtype)
        self.b = torch.randn(n, n, generator=gen).to(dtype)
        self.flops = 2 * n**3

    def infer(self, prepared):
        return self.a @ self.b

    def to_numpy(self, result):
        return None

    def effective_settings(self):
        import torch

        return {"precision": self.config["precision"], "threads": torch.get_num_threads(), "engine": {"flops_per_call": self.flops}}
