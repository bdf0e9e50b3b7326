"""Machine fingerprint and the measured GEMM peak (the roofline's ceiling).

The machine id (ID_SCHEME 2) hashes what decides how fast a kernel runs: the CPU's vendor, model name,
family, model and stepping (two CPUs that both call themselves "AMD EPYC", Milan at family 25 model 1 and
Genoa at family 25 model 17, get different ids), the instruction-set extensions kernels dispatch on (AVX2,
FMA, AVX-512 and its VNNI, bf16 and fp16 parts, AVX-VNNI, AMX; SVE and NEON on Arm), the architecture, the
physical cores, logical CPUs and RAM. The host name is not part of it: two hosts of the same hardware share
one history (a fleet's fresh instances of one type), and the host name is kept beside it (hashed in the
record; in the clear in the asv machine name). Scheme 1 (records before this change, `id_scheme` absent)
hashed the model name, cores, RAM, architecture and host name only; those records keep their ids.
"""

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
ID_SCHEME = 2
# /proc/cpuinfo keys: x86 (vendor_id, cpu family, model, stepping) and Arm (CPU implementer, architecture, part, revision)
CPUINFO_KEYS = ("model name", "flags", "Features", "cpu family", "model", "stepping", "vendor_id", "CPU implementer",
                "CPU architecture", "CPU part", "CPU revision")
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
        if key in CPUINFO_KEYS and key not in info:
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


def cpu_identity(info: dict) -> dict:
    """Vendor, family, model and stepping of a /proc/cpuinfo mapping (x86 or Arm), as strings or None."""
    arm = "CPU implementer" in info and "vendor_id" not in info
    if arm:
        return {"cpu_vendor": info.get("CPU implementer"), "cpu_family_model": f"{info.get('CPU architecture', '?')}/"
                f"{info.get('CPU part', '?')}", "cpu_stepping": info.get("CPU revision")}
    return {"cpu_vendor": info.get("vendor_id"), "cpu_family_model": f"{info.get('cpu family', '?')}/{info.get('model', '?')}",
            "cpu_stepping": info.get("stepping")}


def machine_id(fp: dict) -> str:
    """The id of a fingerprint (ID_SCHEME 2; see the module docstring)."""
    keys = ("cpu_vendor", "cpu_model", "cpu_family_model", "cpu_stepping", "isa_flags", "architecture",
            "physical_cores", "logical_cpus", "ram_bytes")
    identity = {k: fp.get(k) for k in keys}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def cpu_label(fp) -> str:
    """One line a person reads: "AMD EPYC 9R14, family 25 model 17 stepping 1, avx2 avx512f avx512_vnni ..."."""
    get = fp.get if isinstance(fp, dict) else lambda k: getattr(fp, k, None)
    family, _, model = str(get("cpu_family_model") or "?/?").partition("/")
    stepping = get("cpu_stepping")
    flags = " ".join(get("isa_flags") or ()) or "no SIMD flags read"
    where = f"family {family} model {model}" + (f" stepping {stepping}" if stepping is not None else "")
    return f"{get('cpu_model') or 'unknown CPU'}, {where}, {flags}"


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
        **cpu_identity(info),
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
        "id_scheme": ID_SCHEME,
    }
    fp["id"] = machine_id(fp)
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
