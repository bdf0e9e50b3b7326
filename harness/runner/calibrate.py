"""This machine's practical GEMM peak, measured in pinned workers like any benchmark (the roofline's ceiling)."""

from __future__ import annotations

import sys

from harness.backends.gemm import GEMM_ENGINES
from harness.backends.registry import BACKENDS
from harness.contracts import Artifact, BenchConfig, GemmEngine, Settings, WorkerJob
from harness.foundation.machine import gemm_peak_gflops

from .cpus import lease_cpus
from .parent import REPO_ROOT, spawn_worker

CALIBRATION_SETTINGS = Settings(warmup_iters=2, min_iters=15, min_duration_s=3.0, max_duration_s=30.0)


def calibrate_peak(threads: int, precision: str = "fp32") -> float | None:
    """The fastest call of each GEMM library (torch/MKL and, for fp32, ONNX Runtime/MLAS), and the faster
    library, in GFLOP/s; None when every attempt failed."""
    best = None
    for engine in GEMM_ENGINES if precision == "fp32" else ("torch",):
        config = BenchConfig(model="bert-tiny", backend="gemm", threads=threads, precision=precision,
                             settings=CALIBRATION_SETTINGS, backend_settings={"gemm_engine": engine})
        job = WorkerJob(config=config, artifact=Artifact(dir="", input_names=()), backend_spec=_gemm_spec(),
                        repo_root=str(REPO_ROOT))
        with lease_cpus(threads) as lease:
            result = spawn_worker(job, interpreter=sys.executable, lease=lease, threads=threads, timeout_s=120)
        engine = result.effective.engine if result.effective is not None else None
        if result.status != "ok" or not result.samples_ms or not isinstance(engine, GemmEngine):
            continue
        # a peak is a best case: the fastest call, so a busy neighbour during calibration does not lower it
        gflops = engine.flops_per_call / (min(result.samples_ms) / 1000.0) / 1e9
        best = gflops if best is None else max(best, gflops)
    return best


def _gemm_spec() -> str:
    return BACKENDS["gemm"]


def peak_gflops(threads: int, precision: str = "fp32") -> float | None:
    """The cached peak for this machine, measured on first use."""
    return gemm_peak_gflops(threads, precision, run=calibrate_peak)
