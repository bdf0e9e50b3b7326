"""Ctrl-C or SIGTERM during `harness run`: the worker's whole process group ends with the harness, the record
of the configuration in flight is absent (never half-written), and a rerun resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from harness.results.store import iter_records
from tests.conftest import REPO
from tests.helpers.hostile import complete_json_lines

# three configurations, each measured for a few seconds: long enough to catch a worker alive, and one more after
# the worker the test catches, so that a busy machine delaying the signal still finds the run in flight (on ONNX
# Runtime, whose worker starts in about a second: the signal path is the same for every engine)
MATRIX = """\
models: [bert-tiny]
backends: [onnxruntime]
threads: [1]
batch_sizes: [1, 2, 4]
seq_lens: [16]
settings: {min_duration_s: 2, min_iters: 5, warmup_iters: 1, warmup_s: 0.0, percentile_target: null}
"""


def _start(matrix, results):
    env = {**os.environ, "HARNESS_RESULTS_DIR": str(results)}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(matrix), "--quiet"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _worker(parent: subprocess.Popen):
    try:
        children = psutil.Process(parent.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            if "harness.runner.worker" in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _interrupt_worker(proc, sig):
    """Send `sig` to the harness (not to the worker) while a worker runs; returns the worker's process group."""
    worker = _wait_for(lambda: _worker(proc), 300, "a worker to start")
    pgid = os.getpgid(worker.pid)
    assert pgid != os.getpgid(proc.pid)  # its own session: the terminal's Ctrl-C would not reach it
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.decode().rstrip().endswith("harness: interrupted"), err[-800:]
    _wait_for(lambda: _group_gone(pgid), 10, "the worker's process group to end")
    return pgid


def test_sigint_mid_matrix_ends_the_worker_group_keeps_complete_records_and_resumes(tmp_path):
    matrix = tmp_path / "m.yaml"
    matrix.write_text(MATRIX)
    results = tmp_path / "results"
    proc = _start(matrix, results)
    try:
        _wait_for(lambda: list(iter_records(results, [])), 300, "the first record")
        _interrupt_worker(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done = complete_json_lines(results)  # the finished ones, whole; the one in flight, absent
    assert 1 <= len(done) <= 2 and [r["config"]["batch_size"] for r in done] == [1, 2][: len(done)]
    rerun = _start(matrix, results)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-800:]
    assert f"{len(done)} configuration(s) already recorded" in err.decode()
    after = complete_json_lines(results)
    assert [r["record_id"] for r in after][: len(done)] == [r["record_id"] for r in done]
    assert sorted(r["config"]["batch_size"] for r in after) == [1, 2, 4]


def test_sigterm_ends_the_worker_group_and_writes_no_partial_record(tmp_path):
    matrix = tmp_path / "m.yaml"
    matrix.write_text(MATRIX)
    results = tmp_path / "results"
    proc = _start(matrix, results)
    try:
        _interrupt_worker(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert complete_json_lines(results) == []
