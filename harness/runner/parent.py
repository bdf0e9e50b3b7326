"""The parent: one fresh worker process per configuration.

It chooses CPUs, sets affinity and the thread environment before the engine is imported (in the
child, before exec), sends one JSON job, reads exactly one JSON document back, owns the timeout and
the kill, and turns every failure (crash, timeout, out of memory, bad parity) into a record. A
matrix never dies because one configuration did.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import resource
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from .. import __version__
from ..errors import HarnessError
from ..machine import fingerprint, gemm_peak_gflops, git_commit
from ..registry import BACKENDS, backend_class
from ..schema import SCHEMA_VERSION, BenchConfig
from ..stats import summarize, throughput_per_s

REPO_ROOT = Path(__file__).resolve().parents[2]
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "TF_NUM_INTRAOP_THREADS")


def choose_cpus(threads: int) -> list[int]:
    """The first `threads` CPUs this process may use (all of them when fewer exist)."""
    usable = sorted(os.sched_getaffinity(0))
    return usable[: max(1, min(threads, len(usable)))]


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


class EnvironmentMissing(HarnessError):
    """A backend's separate interpreter is not installed: its configurations are unsupported here."""


def spawn_worker(job: dict, *, interpreter: str, cpus: list[int], threads: int, timeout_s: float,
                 memory_limit_mb: int | None = None) -> dict:
    """Run one worker; always returns a result dict (status ok or a failure status with reason)."""

    def preexec():
        os.setsid()  # own process group: the timeout kills the worker and anything it started
        os.sched_setaffinity(0, cpus)
        if memory_limit_mb:
            limit = int(memory_limit_mb) * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.Popen(
        [interpreter, "-m", "harness.runner.worker"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=worker_env(threads), cwd=str(REPO_ROOT), preexec_fn=preexec,
    )
    try:
        out, err = proc.communicate(json.dumps(job).encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"status": "timeout", "reason": f"worker exceeded the {timeout_s:g} s timeout and was killed"}
    stderr_tail = err.decode(errors="replace")[-2000:]
    if proc.returncode != 0 or not out.strip():
        return _failure(proc.returncode, stderr_tail, memory_limit_mb)
    try:
        result = json.loads(out)
    except json.JSONDecodeError:
        return {"status": "error", "reason": "worker wrote something other than one JSON document", "stderr_tail": stderr_tail}
    if memory_limit_mb and result.get("status") == "error" and _looks_like_oom(result.get("reason", "") + stderr_tail):
        result["status"] = "oom"
        result["reason"] = f"worker exceeded the {memory_limit_mb} MB memory limit ({result.get('reason')})"
    return result


def _looks_like_oom(text: str) -> bool:
    return any(s in text for s in ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory", "DefaultCPUAllocator"))


def _failure(returncode: int, stderr_tail: str, memory_limit_mb) -> dict:
    if returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode).name
        oom = memory_limit_mb or sig == "SIGKILL"
        if memory_limit_mb and sig in ("SIGKILL", "SIGABRT", "SIGSEGV", "SIGBUS"):
            return {"status": "oom", "reason": f"worker killed by {sig} under the {memory_limit_mb} MB memory limit", "stderr_tail": stderr_tail}
        reason = f"worker crashed with {sig}" + (" (the kernel's out-of-memory killer sends SIGKILL)" if oom else "")
        return {"status": "error", "reason": reason, "stderr_tail": stderr_tail}
    if memory_limit_mb and _looks_like_oom(stderr_tail):
        return {"status": "oom", "reason": f"worker exceeded the {memory_limit_mb} MB memory limit", "stderr_tail": stderr_tail}
    last = [ln for ln in stderr_tail.strip().splitlines() if ln.strip()]
    return {"status": "error", "reason": f"worker exited with code {returncode}: {last[-1][:300] if last else 'no output'}", "stderr_tail": stderr_tail}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def make_record(config: BenchConfig, result: dict, artifact: dict | None, *, machine: dict, commit: str | None,
                peak_gflops: float | None = None) -> dict:
    """Turn one worker result into a run record (see docs/records.md)."""
    artifact = artifact or {}
    manifest = artifact.get("variant_manifest") or {}
    cfg = config.to_dict() | {
        "variant_id": artifact.get("variant_id"),
        "variant_name": Path(config.variant).name if config.variant else "dense",
        "sparsity": _sparsity(manifest),
        "method": manifest.get("method"),
        "structure": manifest.get("structure"),
    }
    samples = result.get("samples_ms") or []
    metrics: dict = {}
    if samples:
        lat = summarize(samples)
        metrics["latency_ms"] = lat
        metrics["throughput_per_s"] = throughput_per_s(samples, config.batch_size)
        flops = artifact.get("flops_per_inference")
        if flops and lat["p50"]:
            metrics["gflops_per_s"] = flops * config.batch_size / (lat["p50"] / 1000.0) / 1e9
            if peak_gflops:
                metrics["roofline_fraction"] = metrics["gflops_per_s"] / peak_gflops
    metrics["peak_rss_bytes"] = result.get("peak_rss_bytes")
    metrics["artifact_bytes"] = artifact.get("artifact_bytes")
    metrics["flops_per_inference"] = artifact.get("flops_per_inference")
    metrics["flops_nonzero_per_inference"] = artifact.get("flops_nonzero_per_inference")
    if result.get("parity"):
        metrics["parity"] = result["parity"]
    if manifest.get("quality"):
        metrics["quality"] = (manifest["quality"].get("pruned") or manifest["quality"])
    if result.get("server"):
        metrics["server"] = result["server"]
    eff = result.get("effective") or {}
    kernel = result.get("kernel") or {}
    effective = {
        "precision": eff.get("precision"),
        "threads": eff.get("threads"),
        "cpus": result.get("cpus"),
        "cpus_observed": result.get("cpus_observed"),
        "kernel": kernel.get("kernel"),
        "kernel_evidence": kernel.get("evidence"),
        "engine": eff.get("engine"),
        "backend_version": result.get("backend_version"),
        "device": eff.get("device", "cpu"),
        "load_s": result.get("load_s"),
        "warmup_iters": result.get("warmup_iters"),
        "stop_reason": result.get("stop_reason"),
    }
    machine = dict(machine) | {"gemm_peak_gflops": peak_gflops}
    return {
        "schema_version": SCHEMA_VERSION,
        "record_id": uuid.uuid4().hex,
        "status": result.get("status", "error"),
        "reason": result.get("reason"),
        "config_hash": config.config_hash(artifact.get("variant_id")),
        "config": cfg,
        "effective": effective,
        "metrics": metrics,
        "samples_ms": samples,
        "machine": machine,
        "created_at": _now(),
        "git_commit": commit,
        "harness_version": __version__,
        **({"stderr_tail": result["stderr_tail"]} if result.get("status") != "ok" and result.get("stderr_tail") else {}),
    }


def _sparsity(manifest: dict):
    rs = manifest.get("realised_sparsity")
    if isinstance(rs, dict):
        return rs.get("overall")
    return rs if isinstance(rs, (int, float)) else (0.0 if not manifest else None)


def calibrate_peak(threads: int, precision: str = "fp32") -> float | None:
    """Measure the GEMM peak in pinned workers: the fastest call of each GEMM library (torch/MKL and,
    for fp32, ONNX Runtime/MLAS), and the faster library. GFLOP/s, or None when every attempt failed."""
    from ..backends.gemm import GEMM_ENGINES

    best = None
    for engine in GEMM_ENGINES if precision == "fp32" else ("torch",):
        config = BenchConfig(model="bert-tiny", backend="gemm", threads=threads, precision=precision)
        settings = {"warmup_iters": 2, "min_iters": 15, "min_duration_s": 3.0, "max_duration_s": 30.0, "gemm_engine": engine}
        job = {
            "config": config.to_dict() | {"settings": config.to_dict()["settings"] | settings},
            "artifact": {"input_names": []},
            "backend_spec": BACKENDS["gemm"],
            "repo_root": str(REPO_ROOT),
        }
        result = spawn_worker(job, interpreter=sys.executable, cpus=choose_cpus(threads), threads=threads, timeout_s=120)
        samples = result.get("samples_ms")
        if result.get("status") != "ok" or not samples:
            continue
        # a peak is a best case: the fastest call, so a busy neighbour during calibration does not lower it
        gflops = result["effective"]["engine"]["flops_per_call"] / (min(samples) / 1000.0) / 1e9
        best = gflops if best is None else max(best, gflops)
    return best


def run_config(config: BenchConfig, *, machine: dict | None = None, commit: str | None = None,
               calibrate: bool = True) -> dict:
    """Measure one configuration in a fresh worker; always returns a record, never raises for engine failures."""
    from .artifacts import prepare

    machine = machine or fingerprint(config.instance_type)
    commit = commit if commit is not None else git_commit()
    cls = backend_class(config.backend)
    artifact = None
    try:
        artifact = prepare(config, static=cls.static_shapes, needs_onnx=cls.needs_onnx)
        interpreter = interpreter_for(cls)
    except EnvironmentMissing as exc:
        return make_record(config, {"status": "unsupported", "reason": str(exc)}, artifact, machine=machine, commit=commit)
    except HarnessError as exc:
        return make_record(config, {"status": "error", "reason": str(exc)}, artifact, machine=machine, commit=commit)
    threads = config.threads
    cpus = choose_cpus(threads) if config.settings.pinning else sorted(os.sched_getaffinity(0))
    job = {
        "config": config.to_dict(),
        "artifact": artifact,
        "backend_spec": BACKENDS[config.backend],
        "repo_root": str(REPO_ROOT),
    }
    result = spawn_worker(job, interpreter=interpreter, cpus=cpus, threads=threads,
                          timeout_s=config.settings.timeout_s, memory_limit_mb=config.settings.memory_limit_mb)
    if result.get("status") == "ok" and "backend_version" not in result:
        result["backend_version"] = (result.get("effective") or {}).get("backend_version") or _version_of(cls)
    peak = None
    if calibrate and result.get("status") == "ok":
        peak = gemm_peak_gflops(threads, config.precision, run=calibrate_peak)
    return make_record(config, result, artifact, machine=machine, commit=commit, peak_gflops=peak)


def _version_of(cls) -> str | None:
    if cls.interpreter is not None:
        return None
    try:
        return cls.available()
    except Exception:
        return None
