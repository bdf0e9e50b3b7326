"""The DeepSparse backend: its own interpreter, static shapes, parity with torch through the real runner.

The tests that run the engine require("deepsparse"): the environment .venv-deepsparse importing deepsparse (make
deepsparse-env; DeepSparse 1.8.0 exists for x86-64 Linux only). Without it they skip with the reason, except under
CI, where a missing environment is a failure.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends.deepsparse_backend import DeepSparseBackend, parse_engine_line
from harness.contracts import BenchConfig
from harness.measure.bench import measure as run_config
from harness.runner.parent import REPO_ROOT
from tests.helpers.require import require



@pytest.fixture
def ds_python():
    """The DeepSparse environment's interpreter (tests/helpers/require.py)."""
    python = require("deepsparse", "it runs the DeepSparse engine")
    assert python == REPO_ROOT / DeepSparseBackend.interpreter
    return python

LINE = ("DeepSparse, Copyright 2021-present / Neuralmagic, Inc. version: 1.8.0 COMMUNITY | (e3778e93) (release) "
        "(optimized) (system=avx512_vnni, binary=avx512)")


def test_engine_line_is_parsed_into_its_fields():
    got = parse_engine_line(f"some warning\n{LINE}\nmore")
    assert got == {"line": LINE, "version": "1.8.0", "edition": "COMMUNITY", "system": "avx512_vnni", "binary": "avx512"}
    assert parse_engine_line("nothing here") == {"line": None}


def test_backend_declares_static_shapes_and_its_own_interpreter():
    assert DeepSparseBackend.static_shapes is True and DeepSparseBackend.needs_onnx is True
    assert DeepSparseBackend.interpreter == ".venv-deepsparse/bin/python"


def test_environment_exists_and_worker_imports_nothing_heavy(ds_python):
    main_env = str(Path(sys.prefix).resolve()) + os.sep  # with the separator: .venv-deepsparse shares the prefix
    code = (
        "import sys, harness.runner.worker, harness.backends.deepsparse_backend as d, deepsparse, numpy;"
        "heavy = sorted(m for m in ('torch', 'transformers', 'pandas', 'openvino') if m in sys.modules);"
        f"main = sorted(n for n, m in list(sys.modules.items()) if (getattr(m, '__file__', None) or '').startswith({main_env!r}));"
        "print(deepsparse.__version__, numpy.__version__, d.DeepSparseBackend.available(), heavy, main)"
    )
    out = subprocess.run([str(ds_python), "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "NM_DISABLE_ANALYTICS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    ds_version, np_version, available, heavy, from_main = out.stdout.split(" ", 4)
    assert ds_version == "1.8.0" and np_version.startswith("1.") and available == "1.8.0"
    # nothing from the main environment: no torch/transformers/pandas/openvino, no module under its prefix
    assert heavy == "[]" and from_main.strip() == "[]"


def test_deepsparse_matches_torch_through_the_runner(quick_settings, ds_python):
    r = run_config(BenchConfig(model="bert-tiny", backend="deepsparse", seq_len=16, settings=quick_settings), calibrate=False).to_json()
    assert r["status"] == "ok", (r["reason"], r.get("stderr_tail"))
    parity = r["metrics"]["parity"]
    assert parity["ok"] and parity["top1_agreement"] == 1.0 and parity["max_abs_diff"] <= parity["tolerance"]
    eff = r["effective"]
    assert eff["backend_version"] == "1.8.0" and eff["precision"] == "fp32" and eff["threads"] == 1
    engine = eff["engine"]
    assert engine["engine_line"].startswith("DeepSparse") and engine["binary"] and engine["system"]
    assert engine["input_shapes"] == [[1, 16], [1, 16]]  # the static export
    assert engine["num_cores"] == 1 and engine["batch_size"] == 1
    assert eff["kernel"] == "deepsparse"
    assert eff["kernel_evidence"]["binary"] == engine["binary"]
    assert 0 < eff["kernel_evidence"]["fraction_of_supported_ops"] <= 1
    assert len(r["samples_ms"]) >= quick_settings.min_iters
    # the engine was given the static-shape export
    assert Path(os.environ["HARNESS_CACHE_DIR"], "artifacts", "bert-tiny-dense-static-b1-s16", "model.onnx").exists()


def test_bf16_is_refused_with_an_unsupported_record(quick_settings, ds_python):
    r = run_config(BenchConfig(model="bert-tiny", backend="deepsparse", seq_len=16, precision="bf16",
                               settings=quick_settings), calibrate=False).to_json()
    assert r["status"] == "unsupported" and "runs fp32 and int8" in r["reason"] and "bf16" in r["reason"]


def test_missing_environment_becomes_a_record_that_says_how_to_create_it(quick_settings, monkeypatch):
    monkeypatch.setattr(DeepSparseBackend, "interpreter", ".venv-does-not-exist/bin/python")
    r = run_config(BenchConfig(model="bert-tiny", backend="deepsparse", seq_len=16, settings=quick_settings), calibrate=False).to_json()
    assert r["status"] == "unsupported"
    assert ".venv-does-not-exist/bin/python" in r["reason"] and "make deepsparse-env" in r["reason"]
    assert r["samples_ms"] == [] and r["config"]["backend"] == "deepsparse"
