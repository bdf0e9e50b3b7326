"""The library behind `harness bench`, `harness run` and `harness demo`: export, run, store, one line each."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from pathlib import Path

from harness.backends.registry import backend_class
from harness.contracts import BenchConfig, RunRecord, WorkerResult
from harness.export.artifacts import prepare
from harness.foundation.errors import HarnessError
from harness.foundation.machine import fingerprint, git_commit
from harness.results.store import Rescued, append_or_rescue, encode_line, recorded_keys, runs_dir
from harness.runner.calibrate import peak_gflops
from harness.runner.parent import run_config
from harness.runner.record import make_record
from harness.variants.identify import variant_id


def variant_key(config: BenchConfig) -> str | None:
    """The variant id a configuration's identity uses (the path itself when the variant cannot be read:
    the run then reports why)."""
    if not config.variant:
        return None

    try:
        return variant_id(config.variant)
    except HarnessError:
        return str(config.variant)


def measure(config: BenchConfig, *, machine: dict | None = None, commit: str | None = None,
            calibrate: bool = True, root: str | Path | None = None) -> RunRecord:
    """Export (or reuse) the artifact and measure it in a fresh worker; a failure at any stage is a record.
    `machine` defaults to this machine's fingerprint, `commit` to the checkout's commit; `root` is the results
    store the record is for (LoadGen's logs go under it)."""
    machine = machine or fingerprint(config.instance_type)
    commit = commit if commit is not None else git_commit()
    cls = backend_class(config.backend)
    started = time.perf_counter()
    try:
        artifact = prepare(config, static=cls.static_shapes, needs_onnx=cls.needs_onnx or bool(cls.int8_format(config)),
                           int8_format=cls.int8_format(config))
    except HarnessError as exc:
        return make_record(config, WorkerResult(status="error", reason=str(exc)), None, machine=machine, commit=commit)
    record = run_config(config, artifact, machine=machine, commit=commit,
                        peak_gflops=peak_gflops if calibrate else None, results_root=root)
    if record.phases is not None:
        record = record.replace(phases=record.phases.replace(total_s=round(time.perf_counter() - started, 4)))
    return record


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
    records, rescued = [], []
    bar = tqdm(total=len(todo), unit="config", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        with signals_as_interrupt():
            for cfg, machine in todo:
                bar.set_description(f"{cfg.model} {cfg.backend} t{cfg.threads} b{cfg.batch_size}")
                record = measure(cfg, machine=machine, commit=commit, calibrate=calibrate, root=root)
                with signals_deferred():  # the record is written whole, or (interrupted before) not at all
                    saved = store_record(record, root)
                if saved is not None:
                    rescued.append(saved)
                records.append(record)
                if echo is not False:
                    bar.write(one_line(record), file=sys.stderr)
                bar.update(1)
    finally:
        bar.close()
    if rescued:
        raise HarnessError(rescued_message(rescued))
    return records


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def signals_as_interrupt():
    """While measuring, SIGTERM and SIGHUP end the run as Ctrl-C does: KeyboardInterrupt in this process, on
    which the worker in flight is killed with its process group (harness.runner.parent) and its record is
    not written. Outside the main thread (where handlers cannot be set) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # SIGINT too: a process started in the background by a shell inherits SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler of its own
    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT, SIGTERM and SIGHUP back while the block runs; one that arrived meanwhile acts after it."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def store_record(record: RunRecord, root) -> Rescued | None:
    """Append a measured record to the store, or to a rescue store when the store cannot take it (None: stored).
    When nothing can be written at all, the record is printed on standard output as its one JSON line."""
    try:
        return append_or_rescue(record, root)
    except OSError as exc:
        sys.stdout.write(encode_line(record).decode())
        sys.stdout.flush()
        raise HarnessError(f"could not write the record of {one_line(record).strip()} to {runs_dir(root)} or any "
                           f"rescue directory ({exc.strerror or exc}); it is printed above as one JSON line") from None


def rescued_message(rescued: list[Rescued]) -> str:
    first = rescued[0]
    places = sorted({str(r.path) for r in rescued})
    return (f"{len(rescued)} measured record(s) could not be written to {first.wanted} ({first.problem}); they are "
            f"saved in {', '.join(places)} (`harness results --results {first.root}` reads them; append the file to "
            f"the store once it can be written)")


def one_line(record: RunRecord) -> str:
    cfg = record.config
    what = (f"{cfg.model}[{record.variant_label}] {cfg.backend}/{record.kernel} {cfg.precision} "
            f"t{cfg.threads} b{cfg.batch_size} s{cfg.seq_len}")
    if record.ok:
        p50 = record.latency.p50 or 0.0
        return f"  ok    {what}: p50 {p50:.2f} ms, {record.metrics.throughput_per_s or 0.0:.1f} items/s"
    return f"  {record.status:<5} {what}: {record.reason}"
