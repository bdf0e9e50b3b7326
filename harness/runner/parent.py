"""The parent: one fresh worker process per configuration.

It receives a ready artifact (harness.export), chooses CPUs, sets affinity and the thread environment
before the engine is imported (in the child, before exec), sends one JSON job, reads exactly one JSON
document back, owns the timeout and the kill, and turns every failure (crash, timeout, out of memory,
bad parity) into a record. A matrix never dies because one configuration did.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from harness.backends.registry import BACKENDS, backend_class
from harness.contracts import Artifact, BenchConfig, Phases, RecordError, RunRecord, WorkerJob, WorkerResult
from harness.foundation.errors import HarnessError
from harness.foundation.paths import REPO_ROOT

from .cpus import CpuLease, lease_cpus
from .loadgen_run import LOADGEN_SCENARIOS
from .record import make_record

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "TF_NUM_INTRAOP_THREADS")
OOM_MARKERS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory", "DefaultCPUAllocator",
               "failed to map segment", "Memory allocation still failed")  # a library that cannot load under the limit


class EnvironmentMissing(HarnessError):
    """A backend's separate interpreter is not installed: its configurations are unsupported here."""


def worker_env(threads: int) -> dict:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    env["NM_DISABLE_ANALYTICS"] = "1"  # DeepSparse usage analytics off
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TRANSFORMERS_VERBOSITY", "error")
    env["HF_HUB_OFFLINE"] = "1"
    return env


def interpreter_for(backend_cls) -> str:
    if backend_cls.interpreter is None:
        return sys.executable
    path = REPO_ROOT / backend_cls.interpreter
    if not path.exists():
        raise EnvironmentMissing(
            f"backend {backend_cls.name!r} runs under its own environment {backend_cls.interpreter}, which does not "
            f"exist; create it with `make {backend_cls.name}-env`"
        )
    return str(path)


def spawn_worker(job: WorkerJob, *, interpreter: str, lease: CpuLease, threads: int, timeout_s: float,
                 memory_limit_mb: int | None = None) -> WorkerResult:
    """Run one worker on the leased CPUs (it inherits the lease's lock files, so the lease lasts as long as it
    does); always returns a result (status ok, or a failure status with its reason)."""

    def preexec():
        os.setsid()  # own process group: the timeout kills the worker and anything it started
        os.sched_setaffinity(0, lease.cpus)
        if memory_limit_mb:
            limit = int(memory_limit_mb) * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.Popen(
        [interpreter, "-m", "harness.runner.worker"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=worker_env(threads), cwd=str(REPO_ROOT), preexec_fn=preexec, pass_fds=lease.fds,
    )
    try:
        out, err = proc.communicate(json.dumps(job.to_json()).encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        return WorkerResult(status="timeout", reason=f"worker exceeded the {timeout_s:g} s timeout and was killed")
    except BaseException:  # Ctrl-C, or SIGTERM turned into KeyboardInterrupt (harness.measure.bench): no worker outlives us
        kill_group(proc)
        raise
    stderr_tail = err.decode(errors="replace")[-2000:]
    if proc.returncode != 0 or not out.strip():
        return _failure(proc.returncode, stderr_tail, memory_limit_mb)
    try:
        result = WorkerResult.from_json(json.loads(out))
    except (json.JSONDecodeError, RecordError) as exc:
        return WorkerResult(status="error", reason=f"worker wrote something other than one result document ({exc})"[:300],
                            stderr_tail=stderr_tail)
    if memory_limit_mb and result.status == "error" and _looks_like_oom((result.reason or "") + stderr_tail):
        result = result.replace(status="oom", reason=f"worker exceeded the {memory_limit_mb} MB memory limit ({result.reason})")
    return result.replace(stderr_tail=stderr_tail) if result.status != "ok" else result


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's process group (its own session: the terminal's Ctrl-C never reaches it) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # already gone
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # a process in uninterruptible sleep; the kernel finishes the kill later
        pass


def _looks_like_oom(text: str) -> bool:
    return any(s in text for s in OOM_MARKERS)


def _failure(returncode: int, stderr_tail: str, memory_limit_mb) -> WorkerResult:
    if returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode).name
        if memory_limit_mb and sig in ("SIGKILL", "SIGABRT", "SIGSEGV", "SIGBUS"):
            return WorkerResult(status="oom", reason=f"worker killed by {sig} under the {memory_limit_mb} MB memory limit",
                                stderr_tail=stderr_tail)
        hint = " (the kernel's out-of-memory killer sends SIGKILL)" if sig == "SIGKILL" else ""
        return WorkerResult(status="error", reason=f"worker crashed with {sig}{hint}", stderr_tail=stderr_tail)
    if memory_limit_mb and _looks_like_oom(stderr_tail):
        return WorkerResult(status="oom", reason=f"worker exceeded the {memory_limit_mb} MB memory limit",
                            stderr_tail=stderr_tail)
    last = [ln for ln in stderr_tail.strip().splitlines() if ln.strip()]
    reason = f"worker exited with code {returncode}: {last[-1][:300] if last else 'no output'}"
    return WorkerResult(status="error", reason=reason, stderr_tail=stderr_tail)


def run_job(config: BenchConfig, artifact: Artifact, loadgen_dir: Path | None = None) -> WorkerResult:
    """Measure `config` on its prepared artifact in a fresh pinned worker (LoadGen's logs, for the server and
    offline scenarios, into `loadgen_dir`)."""
    cls = backend_class(config.backend)
    try:
        interpreter = interpreter_for(cls)
    except EnvironmentMissing as exc:
        return WorkerResult(status="unsupported", reason=str(exc))
    job = WorkerJob(config=config, artifact=artifact, backend_spec=BACKENDS[config.backend], repo_root=str(REPO_ROOT),
                    loadgen_dir=str(loadgen_dir) if loadgen_dir else None)
    with lease_cpus(config.threads, pinning=config.settings.pinning) as lease:
        spawned, t0 = time.time(), time.perf_counter()
        result = spawn_worker(job, interpreter=interpreter, lease=lease, threads=config.threads,
                              timeout_s=config.settings.timeout_s, memory_limit_mb=config.settings.memory_limit_mb)
    started = round(result.started_at - spawned, 4) if result.started_at else None
    result = result.replace(phases=(result.phases or Phases()).replace(
        worker_s=round(time.perf_counter() - t0, 4), worker_start_s=started, cpu_wait_s=lease.waited_s))
    if result.status == "ok" and result.effective and result.effective.backend_version is None:
        result = _with_version(result, cls)
    return result


def _with_version(result: WorkerResult, cls) -> WorkerResult:
    """Fill the engine version from the parent when the worker did not report one (main-environment engines)."""
    if cls.interpreter is not None:
        return result
    try:
        version = cls.available()
    except Exception:  # noqa: BLE001 - an engine that cannot even report its version: leave it unknown
        return result
    return result.replace(effective=result.effective.replace(backend_version=version))


def run_config(config: BenchConfig, artifact: Artifact, *, machine: dict, commit: str | None,
               peak_gflops=None, results_root: str | Path | None = None) -> RunRecord:
    """Measure one configuration on its artifact; always returns a record, never raises for engine failures.

    `peak_gflops`: a callable (threads, precision) -> GFLOP/s or None, asked only after a successful run.
    `results_root`: the store the record goes to (default $HARNESS_RESULTS_DIR or results); the server and
    offline scenarios keep LoadGen's logs there, in loadgen/<record id>/.
    """
    record_id = uuid.uuid4().hex
    logs = loadgen_log_dir(results_root, record_id) if config.scenario in LOADGEN_SCENARIOS else None
    result = run_job(config, artifact, loadgen_dir=logs)
    peak = peak_gflops(config.threads, config.precision) if peak_gflops and result.status == "ok" else None
    return make_record(config, result, artifact, machine=machine, commit=commit, peak_gflops=peak, record_id=record_id)


def loadgen_log_dir(results_root: str | Path | None, record_id: str) -> Path:
    """<results root>/loadgen/<record id>, absolute (the worker runs in the repository root)."""
    root = Path(results_root or os.environ.get("HARNESS_RESULTS_DIR") or "results")
    return (root / "loadgen" / record_id).resolve()
