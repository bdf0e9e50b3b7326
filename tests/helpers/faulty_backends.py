"""Backends that fail on purpose, to test that the runner turns every failure into a record.

They run inside real worker processes (the worker imports them by "module:Class" like any backend).
"""

from __future__ import annotations

import os
import signal
import time

import sys

from harness.backends.base import Backend
from harness.contracts import EngineReport


class _Base(Backend):
    needs_onnx = False

    @classmethod
    def available(cls):
        return "test"

    def load(self):
        pass

    def infer(self, prepared):
        return None

    def to_numpy(self, result):
        return None

    def effective_settings(self):
        return EngineReport(precision="fp32", threads=self.threads, engine={})


class CrashBackend(_Base):
    name = "crash"

    def infer(self, prepared):
        os.kill(os.getpid(), signal.SIGSEGV)


class HangBackend(_Base):
    name = "hang"

    def load(self):
        time.sleep(3600)


class HogBackend(_Base):
    name = "hog"

    def load(self):
        self.blocks = [bytearray(64 * 2**20) for _ in range(64)]  # 4 GiB, far above the test's limit


class RaiseBackend(_Base):
    name = "raise"

    def load(self):
        raise ValueError("engine refused the model: unsupported operator Foo")


class SpinBackend(_Base):
    """Runs a tiny computation; used to check the timed loop and CPU affinity."""

    name = "spin"

    def infer(self, prepared):
        return sum(range(2000))


class EnvProbeBackend(_Base):
    """Reports what the worker's process looked like when the backend was loaded: the thread variables, and
    the thread count torch picks up on its own when imported now (it reads OMP_NUM_THREADS at start-up)."""

    name = "envprobe"

    def load(self):
        from harness.runner.parent import THREAD_VARS

        self.seen = {
            "env": {var: os.environ.get(var) for var in THREAD_VARS},
            "torch_imported_before_load": "torch" in sys.modules,
        }
        import torch

        self.seen["torch_default_threads"] = torch.get_num_threads()

    def effective_settings(self):
        return EngineReport(precision="fp32", threads=self.threads, engine=self.seen)
