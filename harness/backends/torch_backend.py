"""PyTorch eager, inference mode."""

from __future__ import annotations

from dataclasses import dataclass

from harness.contracts import DenseEvidence, EngineOptions, EngineReport, KernelInfo, TorchEngine, option
from harness.export.build import load_torch_model
from harness.quantization.quantize import KEEP_FP32

from .base import Backend, BackendUnavailable
from .sparse_kernels import swap_to_sparse


@dataclass(frozen=True)
class TorchSettings(EngineOptions):
    sparse_threshold: float | None = option(None, "torch --kernel sparse: the lowest weight sparsity of a Linear layer "
                                            "that runs as CSR", flag="--sparse-threshold", metavar="F", minimum=0,
                                            maximum=1, default_text="the measured crossover")


class TorchBackend(Backend):
    name = "torch"
    Settings = TorchSettings
    needs_onnx = False
    engine_module = "torch"

    def load(self):
        if self.config.kernel == "sparse" and self.config.precision != "fp32":
            raise BackendUnavailable("torch sparse kernel (CSR, MKL) runs fp32 only; use --precision fp32 with --kernel sparse")
        import torch

        torch.set_num_threads(self.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set in this process
            pass

        self.model = load_torch_model(self.config)
        self.dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float32
        self._kernel = KernelInfo("dense", DenseEvidence("torch dense matmul (MKL/oneDNN); zeros are multiplied"))
        if self.config.kernel == "sparse":
            self._kernel = swap_to_sparse(self.model, self.options.sparse_threshold)
        self.quantized_layers = 0
        if self.config.precision in ("int8", "int8-dynamic"):
            # torch's CPU int8 path for these models is dynamic: int8 Linear weights, activations per call
            from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

            # the classifier and pooler stay fp32, as in every other engine's int8 model (harness.quantization.quantize)
            spec = {name: default_dynamic_qconfig for name, m in self.model.named_modules()
                    if isinstance(m, torch.nn.Linear) and not KEEP_FP32.search(name)}
            self.model = quantize_dynamic(self.model, spec, dtype=torch.qint8)
            from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

            self.quantized_layers = sum(isinstance(m, DynamicInt8Linear) for m in self.model.modules())

    def prepare(self, inputs):
        import torch

        return tuple(torch.from_numpy(inputs[name]).contiguous() for name in self.artifact.input_names)

    def infer(self, prepared):
        import torch

        with torch.inference_mode():
            if self.dtype is torch.bfloat16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return self.model(*prepared)
            return self.model(*prepared)

    def to_numpy(self, result):
        return result.float().numpy()

    def batch_dependent_outputs(self) -> bool:
        return bool(getattr(self, "quantized_layers", 0))  # dynamic int8 Linear: activation scales per call, shared by the batch

    def effective_settings(self):
        import torch

        precision = "bf16" if self.dtype is torch.bfloat16 else "fp32"
        if self.quantized_layers:
            precision = "int8-dynamic"
        return EngineReport(
            precision=precision,
            threads=torch.get_num_threads(),
            engine=TorchEngine(
                num_threads=torch.get_num_threads(),
                num_interop_threads=torch.get_num_interop_threads(),
                mkldnn=torch.backends.mkldnn.is_available(),
                autocast_bf16=self.dtype is torch.bfloat16,
                int8_dynamic_linear_layers=self.quantized_layers,
                quantized_engine=torch.backends.quantized.engine,
            ),
        )

    def kernel_info(self):
        return self._kernel
