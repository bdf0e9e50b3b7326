"""The worker: one JSON document in (stdin, a WorkerJob), one JSON document out (stdout, a WorkerResult).

Started by the parent in a fresh process with CPU affinity and thread variables already set. It
imports the engine only after that, checks parity, warms up, times, and reports raw samples plus what
the engine really used. The server and offline scenarios then run under MLPerf LoadGen on the same
loaded engine and prepared inputs (harness.runner.loadgen_run), writing LoadGen's logs where the job
says. Standard library, numpy and harness.contracts only at import time: the DeepSparse worker runs this
file under another interpreter (numpy<2).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback

from harness.contracts import EvalDetails, Parity, Phases, Quality, WorkerJob, WorkerResult

from .loadgen_run import LOADGEN_SCENARIOS


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


# (atol, rtol) against the torch fp32 reference's largest |logit|, per precision. Low precisions are allowed
# what rounding does to logits; whether they still classify well is the evaluation's job (metrics.quality).
# int8's absolute part is 0.25: on an input the classifier finds ambiguous (logits near 0), per-tensor activation
# scales alone move a logit by ~0.15 on the SST-2 MiniLM (OpenVINO NNCF, DeepSparse), which 0.1 refused.
PARITY_TOLERANCE = {"fp32": (1e-4, 1e-3), "bf16": (5e-2, 5e-2), "int8": (0.25, 0.25), "int8-dynamic": (0.25, 0.25)}
LOW_PRECISION_TOLERANCE = (5e-2, 5e-2)


def parity(np, out, reference, precision: str):
    """Max difference from the torch fp32 reference, against the tolerance for the precision."""
    out = np.asarray(out, dtype=np.float64).reshape(reference.shape)
    ref = np.asarray(reference, dtype=np.float64)
    diff = float(np.max(np.abs(out - ref))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    atol, rtol = PARITY_TOLERANCE.get(precision, LOW_PRECISION_TOLERANCE)
    tolerance = atol + rtol * scale
    rows = ref.shape[0] if ref.ndim else 1
    agree = float(np.mean(np.argmax(out.reshape(rows, -1), 1) == np.argmax(ref.reshape(rows, -1), 1)))
    return Parity(max_abs_diff=diff, tolerance=tolerance, rel_diff=diff / scale if scale else diff,
                  top1_agreement=agree, ok=bool(diff <= tolerance))


def _load_backend(job, result: dict, phases: dict):
    import importlib

    from harness.backends.base import BackendUnavailable

    module_name, _, cls_name = job.backend_spec.partition(":")
    try:
        t0 = time.perf_counter()
        cls = getattr(importlib.import_module(module_name), cls_name)
        cls.available()  # imports the engine: its own phase, apart from loading the model
        phases["imports_s"] = time.perf_counter() - t0
        backend = cls(job.config, job.artifact)
        t0 = time.perf_counter()
        backend.load()
        result["load_s"] = phases["load_s"] = time.perf_counter() - t0
        phases["compile_cached"] = getattr(backend, "compile_cached", None)
    except BackendUnavailable as exc:
        result.update(status="unsupported", reason=str(exc))
        return None
    return backend


def _measure(job, backend, result: dict, phases: dict) -> None:
    import numpy as np

    from .timing import timed_loop

    config, artifact, settings = job.config, job.artifact, job.config.settings
    t0 = time.perf_counter()
    io = np.load(artifact.io_path) if artifact.io_path else None
    inputs = {name: io[f"input:{name}"] for name in artifact.input_names} if io is not None else {}
    prepared = backend.prepare(inputs)
    out = backend.to_numpy(backend.infer(prepared))
    phases["parity_s"] = time.perf_counter() - t0
    if out is not None and io is not None:
        result["parity"] = parity(np, out, io["reference"], config.precision)
        if not result["parity"].ok:
            p = result["parity"]
            result.update(status="parity_failed", effective=backend.effective_settings(), kernel=backend.kernel_info(),
                          reason=(f"output differs from torch fp32 by {p.max_abs_diff:.3g} (tolerance "
                                  f"{p.tolerance:.3g} for {config.precision}); not timed"))
            return
    call = lambda: backend.infer(prepared)  # noqa: E731
    t0 = time.perf_counter()
    loop = timed_loop(
        call, warmup_iters=settings.warmup_iters, warmup_s=settings.warmup_s, min_iters=settings.required_samples,
        min_duration_s=settings.min_duration_s, max_iters=settings.max_iters,
        max_duration_s=settings.max_duration_s, measure=backend.measure_fn(prepared),
    )
    phases["timed_s"] = loop["timed_s"]
    phases["warmup_s"] = time.perf_counter() - t0 - loop["timed_s"]
    result.update(loop)
    t0 = time.perf_counter()
    if config.scenario in LOADGEN_SCENARIOS:
        ran = _loadgen(job, backend, np, inputs, prepared, result)
        phases["loadgen_s"] = time.perf_counter() - t0
        if not ran:
            return
    result.update(cpus_observed=_observed_cpus(), effective=backend.effective_settings(), kernel=backend.kernel_info())
    if artifact.eval_path:
        t0 = time.perf_counter()
        result["quality"] = evaluate(np, backend, artifact, backend.eval_batch_size(config.batch_size))
        phases["accuracy_s"] = time.perf_counter() - t0
    backend.close()


def _loadgen(job, backend, np, inputs, prepared, result: dict) -> bool:
    """The server or offline scenario under MLPerf LoadGen (harness.runner.loadgen_run), after the timed loop;
    False when it could not run (the record then says why, with the timed loop's samples kept)."""
    from .loadgen_run import LoadgenRefused, results_relative, run_scenario
    from .loadgen_sut import LoadgenRunError, LoadgenUnavailable

    try:
        result["loadgen"] = run_scenario(job, backend, np, inputs, prepared, result["samples_ms"])
        return True
    except (LoadgenUnavailable, LoadgenRefused) as exc:
        status, reason = "unsupported", str(exc)
    except LoadgenRunError as exc:
        status, reason = "error", f"{exc} (logs: {results_relative(job.loadgen_dir)})"
    result.update(status=status, reason=reason, effective=backend.effective_settings(), kernel=backend.kernel_info())
    return False


def evaluate(np, backend, artifact, batch_size: int):
    """The evaluation set through the same backend, artifact, precision and threads, outside the timed region:
    accuracy against the labels (when the task has labels) and top-1 agreement with the dense fp32 model,
    each with a Wilson 95% interval. Batches of `batch_size` (Backend.eval_batch_size; the last one padded)."""
    from harness.foundation.stats import wilson_interval

    data = np.load(artifact.eval_path)
    labels, dense = data["labels"], data["dense"]
    n = len(dense)
    t0 = time.perf_counter()
    preds = []
    for start in range(0, n, batch_size):
        rows = np.arange(start, start + batch_size).clip(max=n - 1)  # pad the last batch with its last row
        batch = {name: np.ascontiguousarray(data[f"input:{name}"][rows]) for name in artifact.input_names}
        out = backend.to_numpy(backend.infer(backend.prepare(batch)))
        preds.append(np.asarray(out).reshape(len(rows), -1).argmax(-1)[: min(batch_size, n - start)])
    eval_s = time.perf_counter() - t0
    pred = np.concatenate(preds)
    meta = artifact.eval_meta
    agree = int((pred == dense).sum())
    labelled = bool((labels >= 0).all())
    correct = int((pred == labels).sum()) if labelled else None
    return Quality(
        accuracy=correct / n if labelled else None, accuracy_ci95=wilson_interval(correct, n) if labelled else None,
        top1_agreement=agree / n, agreement_ci95=wilson_interval(agree, n), task=meta.task,
        split=meta.split, examples=n, data_sha256=meta.data_sha256,
        source="engine" if labelled else "teacher", eval_s=eval_s,
        details=EvalDetails(batch_size=batch_size, data_file=meta.data_file, tokenizer=meta.tokenizer,
                            label_names=meta.label_names, inputs=meta.inputs, seq_len=meta.seq_len),
    )


def run(job, started_at: float | None = None):
    """Measure one WorkerJob; returns a WorkerResult. `started_at`: when this process began reading the job
    (time.time()), so that the parent can tell how long the worker took to start."""
    result: dict = {"status": "ok", "cpus": sorted(os.sched_getaffinity(0))}
    phases: dict = {}
    backend = _load_backend(job, result, phases)
    if backend is not None:
        try:
            _measure(job, backend, result, phases)
        except MemoryError:
            result.update(status="oom", reason="worker ran out of memory (MemoryError)")
    result["peak_rss_bytes"] = _peak_rss_bytes()
    result["phases"] = Phases(**{k: (round(v, 4) if isinstance(v, float) else v) for k, v in phases.items()})
    result["started_at"] = started_at
    return WorkerResult(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in result.items()})


def main() -> int:
    started_at = time.time()
    text = sys.stdin.read()
    # keep the protocol's stdout clean: engines that print go to stderr
    protocol_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        result = run(WorkerJob.from_json(json.loads(text)), started_at)
    except MemoryError:
        result = WorkerResult(status="oom", reason="worker ran out of memory (MemoryError)")
    except BaseException as exc:  # every failure becomes a record
        tb = traceback.format_exc()
        print(tb, file=sys.stderr)
        line = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]
        result = WorkerResult(status="error", reason=line, traceback_tail=tb[-2000:])
    if result.peak_rss_bytes is None:
        result = result.replace(peak_rss_bytes=_peak_rss_bytes())
    protocol_out.write(json.dumps(result.to_json()))
    protocol_out.flush()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # the result is written and flushed: end without the interpreter's teardown of the engines (about 0.9 s with
    # torch and transformers loaded, measured on 2 cores), which would only delay the next configuration
    os._exit(code)
