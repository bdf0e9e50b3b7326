"""Backends that fail on purpose, to test that the runner turns every failure into a record.

They run inside real worker processes (the worker imports them by "module:Class" like any backend).
"""

from __future__ import annotations

import os
import signal
import sys
import time

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


class SleepBackend(_Base):
    """A fake engine of known service time: each call sleeps HARNESS_TEST_SERVICE_MS plus
    HARNESS_TEST_PER_ITEM_MS for every row of its input (defaults 2 and 0), so a merged batch of k
    queries takes base + k * per-item. The server scenario's known answers are computed from these.
    With HARNESS_TEST_FAIL_AFTER=N, every call after the N-th raises (an engine failing mid-run)."""

    name = "sleep"

    def load(self):
        self.base_s = float(os.environ.get("HARNESS_TEST_SERVICE_MS", "2")) / 1000.0
        self.per_item_s = float(os.environ.get("HARNESS_TEST_PER_ITEM_MS", "0")) / 1000.0
        self.fail_after = int(os.environ.get("HARNESS_TEST_FAIL_AFTER", "0"))  # calls; 0: never fail
        self.calls = 0

    def infer(self, prepared):
        self.calls += 1
        if self.fail_after and self.calls > self.fail_after:
            raise RuntimeError(f"engine stopped answering after {self.fail_after} calls")
        rows = len(next(iter(prepared.values()))) if prepared else 1
        time.sleep(self.base_s + self.per_item_s * rows)

    def effective_settings(self):
        return EngineReport(precision="fp32", threads=self.threads,
                            engine={"service_ms": self.base_s * 1000.0, "per_item_ms": self.per_item_s * 1000.0})
