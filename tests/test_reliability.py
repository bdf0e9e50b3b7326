"""Faults a nightly run meets: a killed harness, hostile input files."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.foundation.errors import ConfigError
from harness.measure.matrix import load_matrix, validate_matrix
from harness.results.store import iter_records
from tests.conftest import REPO

MATRIX = """\
models: [bert-tiny]
backends: [onnxruntime, openvino]
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
    assert 2 <= len(before) < 4
    done = _run(matrix, results)
    assert done.returncode == 0, done.stderr[-500:]
    after = list(iter_records(results, []))
    counts = Counter(r.config_hash for r in after)
    assert len(counts) == 4 and set(counts.values()) == {1}
    # the records written before the kill are still there, unchanged
    assert {r.record_id for r in before} <= {r.record_id for r in after}


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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=300),
    st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12), min_size=1, max_size=7),
             max_size=5).map(lambda rows: "\n".join(",".join(r) for r in rows).encode()),
    st.lists(st.tuples(st.sampled_from(["c7a.large", "g4dn.xlarge", "nope.x", ""]), st.sampled_from(["us-east-1", "mars-1", ""]),
                       st.sampled_from(["on-demand", "spot", "reserved"]), st.one_of(st.floats(allow_nan=True), st.text(max_size=5)),
                       st.text(max_size=6), st.sampled_from(["2026-01-01", "yesterday", ""])), max_size=4).map(
        lambda rows: ("instance,region,purchase_option,usd_per_hour,source,as_of\n"
                      + "\n".join(",".join(map(str, r)) for r in rows)).encode()),
))
def test_price_csv_reader_gives_one_line_errors_only(tmp_path, blob):
    from harness.foundation.errors import HarnessError
    from harness.pricing.user_csv import load_prices_csv

    path = tmp_path / "prices.csv"
    path.write_bytes(blob)
    try:
        quotes = load_prices_csv(path)
    except HarnessError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert all(q.usd_per_hour >= 0 for q in quotes)


recipe_keys = st.sampled_from(["method", "structure", "sparsity", "scope", "schedule", "finetune", "distillation",
                               "second_order", "seeds", "seed", "description", "data", "dense", "structured", "bogus"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=200),
                 st.dictionaries(recipe_keys, yaml_values, max_size=6).map(lambda d: __import__("yaml").safe_dump(d).encode())))
def test_recipe_loader_gives_one_line_errors_and_writes_nothing(tmp_path, blob):
    from harness.foundation.errors import HarnessError
    from harness.pruning.recipes import load_recipe

    path = tmp_path / "recipe.yaml"
    path.write_bytes(blob)
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        load_recipe(path)
    except HarnessError as exc:
        assert "\n" not in str(exc) and str(exc)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
