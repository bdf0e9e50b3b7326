"""DeepSparse (Neural Magic), the sparsity-aware CPU engine.

deepsparse 1.8.0 needs numpy<2 and onnx<1.15, which clash with the main environment, so this backend's
worker runs under its own interpreter (`.venv-deepsparse`, made by `make deepsparse-env` from
requirements-deepsparse.lock). This module therefore imports only the standard library and numpy at top
level, and deepsparse inside methods.

The engine is given a static-shape ONNX export: with a dynamic sequence axis DeepSparse falls back from
its optimized path. It picks sparse kernels by itself for weights it finds sparse, whatever `kernel` the
configuration names, so every record says kernel "deepsparse". Usage analytics are disabled by the parent
(NM_DISABLE_ANALYTICS=1 in the worker's environment).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

from harness.contracts import DeepSparseEngine, DeepSparseEvidence, EngineReport, KernelInfo, manifest_from_json

from .base import Backend, BackendUnavailable

# The line DeepSparse prints to stderr when it compiles its first engine in a process, e.g.
# "DeepSparse, Copyright 2021-present / Neuralmagic, Inc. version: 1.8.0 COMMUNITY | (e3778e93) (release)
#  (optimized) (system=avx512_vnni, binary=avx512)"
ENGINE_LINE = re.compile(r"DeepSparse, Copyright.*")
ENGINE_FIELDS = re.compile(
    r"version:\s*(?P<version>\S+)\s*(?P<edition>[A-Z]+)?.*?\(system=(?P<system>[^,)]+),\s*binary=(?P<binary>[^)]+)\)"
)


def parse_engine_line(text: str) -> dict:
    """The engine line in `text` (captured stderr) and its fields: version, edition, system ISA, binary."""
    match = ENGINE_LINE.search(text or "")
    if not match:
        return {"line": None}
    line = match.group(0).strip()
    fields = ENGINE_FIELDS.search(line)
    out = {"line": line}
    if fields:
        out.update({k: v.strip() for k, v in fields.groupdict().items() if v})
    return out


class _CaptureStderr:
    """Redirect file descriptors 1 and 2 into a temporary file (native code writes there, not to sys.stderr);
    on exit restore them, echo what was captured to stderr and keep it in `.text`."""

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._saved = {fd: os.dup(fd) for fd in (1, 2)}
        for fd in (1, 2):
            os.dup2(self._file.fileno(), fd)
        self.text = ""
        return self

    def __exit__(self, *exc):
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)
            os.close(saved)
        self._file.seek(0)
        self.text = self._file.read().decode(errors="replace")
        self._file.close()
        if self.text:
            sys.stderr.write(self.text)
            sys.stderr.flush()
        return False


class DeepSparseBackend(Backend):
    name = "deepsparse"
    needs_onnx = True
    static_shapes = True
    interpreter = ".venv-deepsparse/bin/python"
    engine_module = "deepsparse"

    @classmethod
    def int8_format(cls, config):
        return "matmulinteger" if config.precision == "int8" else None

    def load(self):
        if self.config.precision not in ("fp32", "int8"):
            raise BackendUnavailable(
                f"deepsparse runs fp32 and int8 graphs; precision {self.config.precision!r} is not offered"
            )
        try:
            import deepsparse
            from deepsparse import Engine
        except ImportError as exc:
            raise BackendUnavailable(f"deepsparse cannot be imported by {sys.executable}: {exc}") from None

        self.version = deepsparse.__version__
        with _CaptureStderr() as captured:
            self.engine = Engine(
                model=self.artifact.onnx_path,
                batch_size=int(self.config.batch_size),
                num_cores=self.threads,
                num_streams=1,
                scheduler="single_stream",
            )
        self.engine_line = parse_engine_line(captured.text)
        self.input_order = list(self.engine.input_names)

    def prepare(self, inputs):
        import numpy as np

        missing = [name for name in self.input_order if name not in inputs]
        if missing:
            raise ValueError(f"deepsparse engine expects inputs {self.input_order}; missing {missing}")
        arrays = [np.ascontiguousarray(inputs[name]) for name in self.input_order]
        for name, array, shape in zip(self.input_order, arrays, self.engine.input_shapes):
            if tuple(array.shape) != tuple(shape):
                raise ValueError(f"deepsparse input {name}: shape {tuple(array.shape)} differs from the compiled {tuple(shape)}")
        return arrays

    def infer(self, prepared):
        # inputs were checked once in prepare(); skip the per-call validation inside the timed region
        return self.engine.run(prepared, val_inp=False)[0]

    def effective_settings(self):
        e = self.engine
        return EngineReport(
            precision=self.config.precision,
            threads=e.num_cores,
            backend_version=self.version,
            engine=DeepSparseEngine(
                version=self.version,
                engine_line=self.engine_line.get("line"),
                system=self.engine_line.get("system"),
                binary=self.engine_line.get("binary"),
                edition=self.engine_line.get("edition"),
                num_cores=e.num_cores,
                num_streams=e.num_streams,
                scheduler=str(getattr(e.scheduler, "value", e.scheduler)),
                batch_size=e.batch_size,
                input_shapes=tuple(tuple(s) for s in e.input_shapes),
                fraction_of_supported_ops=e.fraction_of_supported_ops,
                cpu_avx_type=e.cpu_avx_type,
                cpu_vnni=e.cpu_vnni,
                quantization=self.artifact.quantization,
            ),
        )

    def kernel_info(self):
        e = self.engine
        realised = None
        if self.artifact.variant_manifest:
            realised = manifest_from_json(self.artifact.variant_manifest, "variant manifest").realised_sparsity.overall
        params, nonzero = self.artifact.params, self.artifact.nonzero_params
        evidence = DeepSparseEvidence(
            engine=self.engine_line.get("line"),
            binary=self.engine_line.get("binary"),
            fraction_of_supported_ops=e.fraction_of_supported_ops,
            requested_kernel=self.config.kernel,
            note=("DeepSparse chooses sparse kernels by itself for weights it finds sparse (both kernel "
                  "settings run the same engine); it does not report per-layer choices"),
            prunable_weight_sparsity=realised,
            model_zero_fraction=round(1.0 - nonzero / params, 6) if params and nonzero is not None else None,
        )
        return KernelInfo("deepsparse", evidence)

    def close(self):
        self.engine = None
