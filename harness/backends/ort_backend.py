"""ONNX Runtime, CPU execution provider."""

from __future__ import annotations

import os

from dataclasses import dataclass

from ..contracts import Contract, EngineReport
from .base import Backend, BackendUnavailable


@dataclass(frozen=True)
class OrtSettings(Contract):
    spinning: bool = True  # intra-op threads spin while waiting (False: they sleep)


class OrtBackend(Backend):
    name = "onnxruntime"
    Settings = OrtSettings

    @classmethod
    def available(cls):
        try:
            import onnxruntime
        except ImportError:
            return None
        return onnxruntime.__version__

    def load(self):
        import onnxruntime as ort

        if self.config.precision != "fp32":
            raise BackendUnavailable("onnxruntime CPU runs this fp32 graph in fp32 only; bf16 is not offered by its CPU provider")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        spinning = "1" if self.options.spinning else "0"
        opts.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        self.affinity = None
        cpus = sorted(os.sched_getaffinity(0))
        if self.settings.pinning and self.threads > 1 and len(cpus) >= self.threads:
            # one entry per pool thread (threads - 1; the calling thread is the process's own),
            # logical processor ids counted from 1
            self.affinity = ";".join(str(c + 1) for c in cpus[1 : self.threads])
            opts.add_session_config_entry("session.intra_op_thread_affinities", self.affinity)
        self.session = ort.InferenceSession(self.artifact.onnx_path, opts, providers=["CPUExecutionProvider"])
        self.spinning = spinning
        self.output_name = self.session.get_outputs()[0].name

    def infer(self, prepared):
        return self.session.run([self.output_name], prepared)[0]

    def effective_settings(self):
        opts = self.session.get_session_options()
        return EngineReport(
            precision="fp32",
            threads=opts.intra_op_num_threads,
            engine={
                "providers": self.session.get_providers(),
                "intra_op_num_threads": opts.intra_op_num_threads,
                "inter_op_num_threads": opts.inter_op_num_threads,
                "allow_spinning": opts.get_session_config_entry("session.intra_op.allow_spinning")
                if hasattr(opts, "get_session_config_entry") else self.spinning,
                "intra_op_thread_affinities": self.affinity,
                "graph_optimization_level": str(opts.graph_optimization_level),
            },
        )
