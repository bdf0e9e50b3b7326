"""The worker: one JSON document in (stdin), one JSON document out (stdout).

Started by the parent in a fresh process with CPU affinity and thread variables already set. It
imports the engine only after that, warms up, times, and reports raw samples plus what the engine
really used. Standard library and numpy only at import time: the DeepSparse worker runs this file
under another interpreter (numpy<2).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback


def _observed_cpus() -> list[int]:
    """CPUs the worker's threads last ran on (field 39 of /proc/self/task/*/stat)."""
    cpus = set()
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as fh:
                stat = fh.read()
            fields = stat[stat.rindex(")") + 2 :].split()
            cpus.add(int(fields[36]))  # field 39 overall; fields here start at field 3
    except (OSError, ValueError, IndexError):
        pass
    return sorted(cpus)


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _parity(np, out, reference, precision: str) -> dict:
    out = np.asarray(out, dtype=np.float64).reshape(reference.shape)
    ref = np.asarray(reference, dtype=np.float64)
    diff = float(np.max(np.abs(out - ref))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    atol, rtol = (1e-4, 1e-3) if precision == "fp32" else (5e-2, 5e-2)
    tolerance = atol + rtol * scale
    agree = float(np.mean(np.argmax(out.reshape(ref.shape[0], -1), 1) == np.argmax(ref.reshape(ref.shape[0], -1), 1)))
    return {
        "max_abs_diff": diff,
        "rel_diff": diff / scale if scale else diff,
        "top1_agreement": agree,
        "tolerance": tolerance,
        "ok": bool(diff <= tolerance),
    }


def _server(call, settings: dict, service_ms: float) -> dict:
    """Find the highest Poisson arrival rate whose p99 latency meets the SLA, by bisection."""
    from .timing import poisson_trial

    sla_ms = float(settings["sla_ms"])
    n = int(settings.get("server_requests", 300))
    q = 0.99 if n >= 300 else 0.9
    trials = []

    def p_at(rate):
        lat = sorted(poisson_trial(call, rate_per_s=rate, n_requests=n, seed=len(trials)))
        value = lat[min(len(lat) - 1, int(q * len(lat)))]
        trials.append({"rate_per_s": rate, f"p{int(q * 100)}_ms": value, "met": value <= sla_ms, "n": n})
        return value

    if service_ms > sla_ms:
        return {"sla_ms": sla_ms, "max_rate_per_s": 0.0, "quantile": q, "trials": trials,
                "note": "a single request already exceeds the SLA"}
    hi = 1000.0 / service_ms  # the service rate: the queue grows without bound above it
    lo = 0.0
    for _ in range(int(settings.get("server_steps", 6))):
        mid = (lo + hi) / 2
        if p_at(mid) <= sla_ms:
            lo = mid
        else:
            hi = mid
    return {"sla_ms": sla_ms, "max_rate_per_s": lo, "quantile": q, "trials": trials}


def run(job: dict) -> dict:
    import numpy as np

    config = job["config"]
    artifact = job["artifact"]
    settings = config.get("settings") or {}
    result: dict = {"status": "ok", "reason": None, "cpus": sorted(os.sched_getaffinity(0))}
    sys.path.insert(0, job["repo_root"])
    from harness.backends.base import BackendUnavailable  # noqa: E402  (light: stdlib + numpy)
    import importlib

    module_name, _, cls_name = job["backend_spec"].partition(":")
    try:
        backend = getattr(importlib.import_module(module_name), cls_name)(config, artifact)
        t0 = time.perf_counter()
        backend.load()
        result["load_s"] = time.perf_counter() - t0
    except BackendUnavailable as exc:
        return result | {"status": "unsupported", "reason": str(exc)}
    try:
        io = np.load(artifact["io_path"]) if artifact.get("io_path") else None
        inputs = {name: io[f"input:{name}"] for name in artifact["input_names"]} if io is not None else {}
        prepared = backend.prepare(inputs)
        out = backend.to_numpy(backend.infer(prepared))
        if out is not None and io is not None:
            result["parity"] = _parity(np, out, io["reference"], config["precision"])
            if not result["parity"]["ok"]:
                result["effective"] = backend.effective_settings()
                result["kernel"] = backend.kernel_info()
                return result | {
                    "status": "parity_failed",
                    "reason": (f"output differs from torch fp32 by {result['parity']['max_abs_diff']:.3g} "
                               f"(tolerance {result['parity']['tolerance']:.3g} for {config['precision']}); not timed"),
                }
        from .timing import timed_loop

        call = lambda: backend.infer(prepared)  # noqa: E731
        loop = timed_loop(
            call,
            warmup_iters=int(settings.get("warmup_iters", 5)), warmup_s=float(settings.get("warmup_s", 0.0)),
            min_iters=int(settings.get("min_iters", 30)), min_duration_s=float(settings.get("min_duration_s", 5.0)),
            max_iters=int(settings.get("max_iters", 100_000)), max_duration_s=float(settings.get("max_duration_s", 120.0)),
            measure=backend.measure_fn(prepared),
        )
        result.update(loop)
        if config.get("scenario") == "server":
            service_ms = sorted(loop["samples_ms"])[len(loop["samples_ms"]) // 2]
            result["server"] = _server(call, settings, service_ms)
        result["cpus_observed"] = _observed_cpus()
        result["effective"] = backend.effective_settings()
        result["kernel"] = backend.kernel_info()
        backend.close()
    except MemoryError:
        return result | {"status": "oom", "reason": "worker ran out of memory (MemoryError)"}
    result["peak_rss_bytes"] = _peak_rss_bytes()
    return result


def main() -> int:
    job = json.loads(sys.stdin.read())
    # keep the protocol's stdout clean: engines that print go to stderr
    protocol_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        result = run(job)
    except MemoryError:
        result = {"status": "oom", "reason": "worker ran out of memory (MemoryError)"}
    except BaseException as exc:  # every failure becomes a record
        tb = traceback.format_exc()
        print(tb, file=sys.stderr)
        line = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]
        result = {"status": "error", "reason": line, "traceback_tail": tb[-2000:]}
    result["peak_rss_bytes"] = result.get("peak_rss_bytes") or _peak_rss_bytes()
    protocol_out.write(json.dumps(result))
    protocol_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
