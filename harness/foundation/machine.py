"""Machine fingerprint and the measured GEMM peak (the roofline's ceiling)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from harness.contracts import GemmPeaks

from .fsutil import atomic_write_text
from .paths import REPO_ROOT

ISA_FLAGS_OF_INTEREST = (
    "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "amx_tile", "amx_bf16", "amx_int8", "avx_vnni", "sve", "asimd", "neon",
)
LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime", "openvino", "numpy", "deepsparse", "scikit-learn")


def _cpuinfo() -> dict:
    info: dict = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in ("model name", "flags", "Features", "cpu family", "model", "vendor_id") and key not in info:
            info[key] = value
    return info


def git_commit(repo: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo or REPO_ROOT,
            capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = out.stdout.strip() if out.returncode == 0 else None
    if commit and _dirty(repo):
        commit += "-dirty"
    return commit


def _dirty(repo: Path | None) -> bool:
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "harness"],
            cwd=repo or REPO_ROOT, capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(out.stdout.strip())


@functools.lru_cache(maxsize=1)
def _static_fingerprint() -> dict:
    import psutil

    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    fp = {
        "cpu_model": info.get("model name") or platform.processor() or platform.machine(),
        "cpu_vendor": info.get("vendor_id"),
        "cpu_family_model": f"{info.get('cpu family', '?')}/{info.get('model', '?')}",
        "architecture": platform.machine(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cpus": psutil.cpu_count(logical=True),
        "usable_cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "isa_flags": sorted(f for f in ISA_FLAGS_OF_INTEREST if f in flags),
        "ram_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
        "hostname_hash": hashlib.sha256(platform.node().encode()).hexdigest()[:8],
    }
    identity = {k: fp[k] for k in ("cpu_model", "physical_cores", "logical_cpus", "ram_bytes", "architecture", "hostname_hash")}
    fp["id"] = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    return fp


def fingerprint(instance_type: str | None = None) -> dict:
    """Who measured: CPU, cores, ISA, RAM, OS, versions, and the cloud instance type when known.

    `instance_type` is declared by the user (`--instance-type`); otherwise HARNESS_INSTANCE_TYPE is
    read (set by fleet launchers, counted as detected). Nothing is guessed from the CPU model.
    """
    fp = dict(_static_fingerprint())
    if instance_type:
        fp["instance_type"], fp["instance_type_source"] = instance_type, "declared"
    elif os.environ.get("HARNESS_INSTANCE_TYPE"):
        fp["instance_type"], fp["instance_type_source"] = os.environ["HARNESS_INSTANCE_TYPE"], "detected"
    else:
        fp["instance_type"], fp["instance_type_source"] = None, None
    return fp


def cache_dir() -> Path:
    root = os.environ.get("HARNESS_CACHE_DIR") or str(REPO_ROOT / ".cache")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def gemm_peak_gflops(threads: int, precision: str = "fp32", *, run=None) -> float | None:
    """This machine's practical GEMM peak at `threads` threads, measured once and cached per machine.

    The measurement runs in a pinned worker process (backend "gemm") like any benchmark, so it sees
    the same thread and affinity settings. `run` is the runner function (injected to avoid an import
    cycle and to let tests replace it).
    """
    fp = _static_fingerprint()
    path = cache_dir() / f"gemm-peak-v{GemmPeaks.SCHEMA_VERSION}-{fp['id']}.json"  # harness.contracts.caches
    table = GemmPeaks(machine_id=fp["id"])
    if path.exists():
        try:
            table = GemmPeaks.from_json(json.loads(path.read_text()), str(path))
        except (OSError, ValueError):  # damaged or of another version: measured again
            pass
    key = f"{precision}:{threads}"
    if key in table.peaks:
        return table.peaks[key]
    if run is None:
        return None
    gflops = run(threads, precision)
    if gflops is None:
        return None
    atomic_write_text(path, json.dumps(table.with_peak(key, gflops).to_json(), indent=1))
    return gflops
