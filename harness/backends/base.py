"""The Backend plug-in interface.

This module runs inside worker processes, including the DeepSparse worker, which uses a different
interpreter with numpy<2: it may import only the standard library and numpy.
"""

from __future__ import annotations

import numpy as np


class BackendUnavailable(Exception):
    """The engine is not installed or cannot run this configuration; becomes an 'unsupported' record."""


class Backend:
    """One engine. The worker calls, in order: load(), prepare() (untimed), infer() (timed), ..., close().

    Subclasses set:
      name           registry name
      needs_onnx     True when load() takes the ONNX artifact (False: builds the torch model itself)
      static_shapes  True when the engine needs an ONNX export with fixed batch and sequence
      interpreter    None to run in the main environment, or a path relative to the repository root
                     of another Python (a backend with conflicting dependency pins)
    """

    name = ""
    needs_onnx = True
    static_shapes = False
    interpreter: str | None = None

    def __init__(self, config: dict, artifact: dict):
        self.config = config
        self.artifact = artifact
        self.settings = config.get("settings") or {}
        self.threads = int(config["threads"])

    @classmethod
    def available(cls) -> str | None:
        """The engine's version string when it can be imported here, else None."""
        raise NotImplementedError

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

    def effective_settings(self) -> dict:
        """What the engine really uses, read back after compilation: precision, threads, engine details."""
        raise NotImplementedError

    def kernel_info(self) -> dict:
        """Which kernel ran for the pruned layers, with evidence."""
        return {"kernel": "dense", "evidence": {"reason": "dense kernels; zeros are multiplied like any value"}}

    def close(self) -> None:
        pass
