"""Faults a nightly run meets: a killed harness, hostile input files."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.matrix import load_matrix, validate_matrix
from harness.store import iter_records
from tests.conftest import REPO

MATRIX = """\
models: [bert-tiny]
backends: [torch, onnxruntime, openvino]
threads: [1, 2]
batch_sizes: [1]
seq_lens: [16]
settings: {min_duration_s: 0.6, min_iters: 5, warmup_iters: 1, warmup_s: 0.0}
"""


def _run(matrix, results, wait=True):
    env = {**os.environ, "HARNESS_RESULTS_DIR": str(results)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(matrix), "--quiet"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    if wait:
        proc.communicate(timeout=600)
    return proc


def test_kill_9_mid_matrix_then_resume_loses_and_duplicates_nothing(tmp_path):
    matrix = tmp_path / "m.yaml"
    matrix.write_text(MATRIX)
    results = tmp_path / "results"
    proc = _run(matrix, results, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline:
        if len(list(iter_records(results, []))) >= 2:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = list(iter_records(results, []))
    assert 2 <= len(before) < 6
    done = _run(matrix, results)
    assert done.returncode == 0, done.stderr[-500:]
    after = list(iter_records(results, []))
    counts = Counter(r["config_hash"] for r in after)
    assert len(counts) == 6 and set(counts.values()) == {1}
    # the records written before the kill are still there, unchanged
    assert {r["record_id"] for r in before} <= {r["record_id"] for r in after}


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, width=32),
                         st.text(max_size=8))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
keys = st.sampled_from(["models", "backends", "threads", "batch_sizes", "seq_lens", "variants", "precisions",
                        "kernels", "scenario", "name", "settings", "instance_type", "bogus"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, yaml_values, max_size=8))
def test_matrix_validation_never_raises_anything_but_a_one_line_config_error(data):
    try:
        validate_matrix(data, "m.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("m.yaml: ")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_matrix_file_of_arbitrary_bytes_gives_a_one_line_error(tmp_path, blob):
    path = tmp_path / "m.yaml"
    path.write_bytes(blob)
    try:
        load_matrix(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)
