"""PyTorch eager on an NVIDIA GPU, timed with CUDA events: the measured GPU side of the cost report.

Runs only where torch sees a CUDA device; elsewhere every configuration becomes an 'unsupported'
record saying so. Inputs are copied to the device in prepare() (untimed), so a sample is the GPU
work of one call, as TensorRT's published figures count it; add host-device copies separately if
your serving path has them.
"""

from __future__ import annotations

from harness.contracts import CudaEngine, DenseEvidence, EngineReport, KernelInfo
from harness.export.build import load_torch_model

from .base import BackendUnavailable
from .torch_backend import TorchBackend


class TorchCudaBackend(TorchBackend):
    name = "torch-cuda"
    engine_module = "torch"

    @classmethod
    def engine_version(cls, module):
        return module.__version__ if module.cuda.is_available() else None  # torch without a CUDA device

    def load(self):
        import torch

        if not torch.cuda.is_available():
            raise BackendUnavailable("no CUDA device visible to torch on this machine")
        if self.config.kernel == "sparse":
            raise BackendUnavailable("torch-cuda runs dense kernels only here")
        if self.config.precision not in ("fp32", "bf16"):
            raise BackendUnavailable(f"torch-cuda runs fp32 and bf16 here, not {self.config.precision}")

        self.model = load_torch_model(self.config).to("cuda")
        self.dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float32
        self._kernel = KernelInfo("dense", DenseEvidence("cuBLAS dense GEMM"))
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def prepare(self, inputs):
        import torch

        return tuple(torch.from_numpy(inputs[n]).to("cuda") for n in self.artifact.input_names)

    def infer(self, prepared):
        import torch

        with torch.inference_mode():
            if self.dtype is torch.bfloat16:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    out = self.model(*prepared)
            else:
                out = self.model(*prepared)
        torch.cuda.synchronize()
        return out

    def measure_fn(self, prepared):
        def measure():
            self._start.record()
            self.infer(prepared)
            self._end.record()
            self._end.synchronize()
            return self._start.elapsed_time(self._end)

        return measure

    def to_numpy(self, result):
        return result.float().cpu().numpy()

    def effective_settings(self):
        import torch

        props = torch.cuda.get_device_properties(0)
        return EngineReport(
            precision="bf16" if self.dtype is torch.bfloat16 else "fp32",
            threads=torch.get_num_threads(),
            device=f"cuda:{props.name}",
            engine=CudaEngine(gpu=props.name, gpu_memory_bytes=props.total_memory, cuda=torch.version.cuda,
                              tf32_matmul=torch.backends.cuda.matmul.allow_tf32, timer="cuda-events"),
        )
