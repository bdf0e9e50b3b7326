"""The Backend plug-in interface.

This module runs inside worker processes, including the DeepSparse worker, which uses a different
interpreter with numpy<2: it may import only the standard library, numpy and harness.contracts.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

from harness.contracts import Artifact, BenchConfig, DenseEvidence, EngineOptions, EngineReport, KernelInfo, RecordError


class BackendUnavailable(Exception):
    """The engine is not installed or cannot run this configuration; becomes an 'unsupported' record."""


@dataclass(frozen=True)
class NoSettings(EngineOptions):
    """A backend without knobs of its own."""


EVAL_BATCH = 32  # the evaluation pass's batch where the engine allows (Backend.eval_batch_size)


class Backend:
    """One engine. The worker calls, in order: load(), prepare() (untimed), infer() (timed), ..., close().

    Subclasses set:
      name           registry name
      Settings       a frozen dataclass (an EngineOptions) of the engine's own knobs, with defaults; a
                     configuration's backend_settings holds the non-default ones, validated by it
      needs_onnx     True when load() takes the ONNX artifact (False: builds the torch model itself)
      static_shapes  True when the engine needs an ONNX export with fixed batch and sequence
      interpreter    None to run in the main environment, or a path relative to the repository root
                     of another Python (a backend with conflicting dependency pins)
      engine_module  the module whose import says the engine is installed (available(); engine_version()
                     reads its version)
    """

    name = ""
    Settings: type = NoSettings
    needs_onnx = True
    static_shapes = False
    interpreter: str | None = None
    compile_cached: bool | None = None  # set by load(): the engine reused a compiled or optimised model (None: no cache)
    engine_module: str | None = None

    def __init__(self, config: BenchConfig, artifact: Artifact):
        self.config = config
        self.artifact = artifact
        self.settings = config.settings  # measurement settings
        self.options = self.parse_settings(config.backend_settings)  # the engine's own knobs
        self.threads = int(config.threads)

    @classmethod
    def parse_settings(cls, values: dict, where: str = "backend_settings"):
        """The backend's Settings from a mapping; an unknown name or a wrong type is a RecordError."""
        from dataclasses import fields

        known = [f.name for f in fields(cls.Settings)]
        for key in values:
            if key not in known:
                valid = ", ".join(known) or "none"
                raise RecordError(f"{where}.{key}: not a setting of backend {cls.name!r}; valid: {valid}")
        try:
            return cls.Settings.from_json(dict(values))
        except RecordError as exc:  # "<field>: ..." -> "<where>.<field>: ..."
            raise RecordError(f"{where}.{exc}") from None

    def eval_batch_size(self, timed_batch: int) -> int:
        """Batch size of the evaluation pass (outside the timed region): larger than the timed one where the engine
        accepts any batch and its outputs cannot depend on it; the timed one otherwise (fixed shapes, or
        activations quantized per call, whose scales a batch shares)."""
        if self.static_shapes or self.batch_dependent_outputs():
            return timed_batch
        return max(timed_batch, EVAL_BATCH)

    def batch_dependent_outputs(self) -> bool:
        """True when one input's output depends on the others in its batch (dynamic int8 activations)."""
        return False

    @classmethod
    def int8_format(cls, config: BenchConfig) -> str | None:
        """The int8 model the export stage must make for `config` (harness.quantization.quantize FORMATS), or None
        when the engine quantizes by itself or does not run that precision (load() then says so)."""
        return None

    @classmethod
    def available(cls) -> str | None:
        """The engine's version string when its module can be imported here, else None."""
        if cls.engine_module is None:
            raise NotImplementedError(f"backend {cls.name!r} names no engine_module")
        try:
            module = importlib.import_module(cls.engine_module)
        except ImportError:
            return None
        return cls.engine_version(module)

    @classmethod
    def engine_version(cls, module) -> str | None:
        """The version the imported engine module reports (None: installed, but it cannot run here)."""
        return module.__version__

    def load(self) -> None:
        raise NotImplementedError

    def prepare(self, inputs: dict[str, np.ndarray]):
        """Convert inputs into what infer() takes, outside the timed region."""
        return inputs

    def infer(self, prepared):
        raise NotImplementedError

    def measure_fn(self, prepared):
        """None to time infer() with the host clock, or a callable that runs one call and returns its
        duration in ms by the engine's own clock (CUDA events for GPU engines)."""
        return None

    def to_numpy(self, result) -> np.ndarray:
        """The logits of one infer() result as a float32 numpy array."""
        return np.asarray(result, dtype=np.float32)

    def effective_settings(self) -> EngineReport:
        """What the engine really uses, read back after compilation: precision, threads, engine details."""
        raise NotImplementedError

    def kernel_info(self) -> KernelInfo:
        """Which kernel ran for the pruned layers, with evidence."""
        return KernelInfo("dense", DenseEvidence("dense kernels; zeros are multiplied like any value"))

    def close(self) -> None:
        pass
