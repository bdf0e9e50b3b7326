"""The library behind `harness bench`, `harness run` and `harness demo`: export, run, store, one line each."""

from __future__ import annotations

import sys
from pathlib import Path

from .backends.registry import backend_class
from .contracts import BenchConfig, RunRecord, WorkerResult
from .errors import HarnessError
from .export.artifacts import prepare
from .machine import fingerprint, git_commit
from .runner.calibrate import peak_gflops
from .runner.parent import run_config
from .runner.record import make_record
from .store import append_record, recorded_keys


def variant_key(config: BenchConfig) -> str | None:
    """The variant id a configuration's identity uses (the path itself when the variant cannot be read:
    the run then reports why)."""
    if not config.variant:
        return None
    from .variants.identify import variant_id

    try:
        return variant_id(config.variant)
    except HarnessError:
        return str(config.variant)


def measure(config: BenchConfig, *, machine: dict | None = None, commit: str | None = None,
            calibrate: bool = True) -> RunRecord:
    """Export (or reuse) the artifact and measure it in a fresh worker; a failure at any stage is a record.
    `machine` defaults to this machine's fingerprint, `commit` to the checkout's commit."""
    machine = machine or fingerprint(config.instance_type)
    commit = commit if commit is not None else git_commit()
    cls = backend_class(config.backend)
    try:
        artifact = prepare(config, static=cls.static_shapes, needs_onnx=cls.needs_onnx or bool(cls.int8_format(config)),
                           int8_format=cls.int8_format(config))
    except HarnessError as exc:
        return make_record(config, WorkerResult(status="error", reason=str(exc)), None, machine=machine, commit=commit)
    return run_config(config, artifact, machine=machine, commit=commit, peak_gflops=peak_gflops if calibrate else None)


def run_configs(configs: list[BenchConfig], *, root: str | Path | None = None, force: bool = True,
                repeats: int = 1, progress: bool = True, calibrate: bool = True, echo=None,
                commit: str | None = None) -> list[RunRecord]:
    """Run each configuration in its own worker and append one record per run.

    With repeats > 1 the whole list is run round-robin `repeats` times (interleaved), so slow drift of
    a shared machine spreads over every configuration instead of biasing the last ones. Unless
    `force`, configurations already recorded for this machine and commit are skipped (resume). Records are
    filed under `commit` (default: this checkout's commit).
    """
    from tqdm import tqdm

    commit = commit if commit is not None else git_commit()
    machines: dict = {}
    done = set() if force else recorded_keys(root)
    todo = []
    skipped = 0
    for _ in range(repeats):
        for cfg in configs:
            machine = machines.setdefault(cfg.instance_type, fingerprint(cfg.instance_type))
            key = (cfg.config_hash(variant_key(cfg)), machine["id"], commit)
            if not force and key in done:
                skipped += 1
                continue
            todo.append((cfg, machine))
    if skipped and echo is not False:
        print(f"harness: {skipped} configuration(s) already recorded for this machine and commit; skipped (--force reruns them)", file=sys.stderr)
    records = []
    bar = tqdm(total=len(todo), unit="config", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for cfg, machine in todo:
            bar.set_description(f"{cfg.model} {cfg.backend} t{cfg.threads} b{cfg.batch_size}")
            record = measure(cfg, machine=machine, commit=commit, calibrate=calibrate)
            append_record(record, root)
            records.append(record)
            if echo is not False:
                bar.write(one_line(record), file=sys.stderr)
            bar.update(1)
    finally:
        bar.close()
    return records


def one_line(record: RunRecord) -> str:
    cfg = record.config
    what = (f"{cfg.model}[{record.variant_label}] {cfg.backend}/{record.kernel} {cfg.precision} "
            f"t{cfg.threads} b{cfg.batch_size} s{cfg.seq_len}")
    if record.ok:
        p50 = record.latency.p50 or 0.0
        return f"  ok    {what}: p50 {p50:.2f} ms, {record.metrics.throughput_per_s or 0.0:.1f} items/s"
    return f"  {record.status:<5} {what}: {record.reason}"
