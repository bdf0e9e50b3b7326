import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Under pytest-xdist each worker's own torch work (exports, tiny fine-tunes, pruning steps) and the scripts it starts
# get an equal share of the CPUs: two workers each running torch on every core spin against each other. Set before
# torch is imported; the harness's measuring workers set their own thread variables (harness.runner.parent).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT") and "OMP_NUM_THREADS" not in os.environ:
    _share = len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ["OMP_NUM_THREADS"] = str(max(1, _share))


# the files that take longest (pytest --durations), run first: `make test`'s two workers (pytest-xdist, --dist loadfile)
# take files in collection order, so the long ones start early and the short ones fill the end
SLOW_FILES_FIRST = ("test_docs_commands.py", "test_quality.py", "test_runner.py", "test_docs_pages_commands.py",
                    "test_asv.py", "test_demo.py", "test_reliability_signals.py", "test_post_training.py", "test_sparse.py",
                    "test_reliability.py", "test_int8.py", "test_reliability_files.py", "test_reliability_inputs.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Artifacts and calibration go to a session cache; results to a per-test directory (below). Under pytest-xdist
    (`make test` runs two workers) the workers share one cache, beside their own temporary roots: the harness's cache
    is written whole and renamed into place, so two workers building the same export both leave a complete one."""
    if "HARNESS_CACHE_DIR" not in os.environ:
        if os.environ.get("PYTEST_XDIST_WORKER"):
            shared = tmp_path_factory.getbasetemp().parent / "harness-cache"
            shared.mkdir(exist_ok=True)
            os.environ["HARNESS_CACHE_DIR"] = str(shared)
        else:
            os.environ["HARNESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("harness-cache"))
    _seed_gemm_peaks()
    yield


def _seed_gemm_peaks() -> None:
    """The roofline's ceiling, the GEMM peak per thread count, is measured on first use by harness.runner.calibrate in
    two worker processes of 2048^3 GEMMs for several seconds each, once per thread count and precision: in a fresh
    session cache, 20 to 60 s each on 2 cores. The suite's records only need a plausible peak, so a quick in-process
    estimate (the fastest of five 512^3 products) stands in; tests/test_runner.py measures the real one in a cache of
    its own."""
    from harness.contracts.config import PRECISIONS
    from harness.foundation.machine import gemm_peak_gflops

    for precision in PRECISIONS:  # each precision has a peak of its own (an int8 run would otherwise calibrate)
        for threads in range(1, min(os.cpu_count() or 1, 8) + 1):
            gemm_peak_gflops(threads, precision, run=_quick_gemm_peak)


def _quick_gemm_peak(threads: int, precision: str) -> float:
    import time

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a = torch.randn(512, 512)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            torch.mm(a, a)
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
    return 2 * 512**3 / best / 1e9


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    path = tmp_path / "results"
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(path))
    return path


@pytest.fixture
def quick_settings():
    from harness.contracts import Settings

    return Settings(warmup_iters=1, warmup_s=0.0, min_iters=5, min_duration_s=0.05, timeout_s=120)


@pytest.fixture
def fault_backends(monkeypatch):
    """Register the deliberately faulty test backends for one test."""
    from harness.backends import registry

    for name, cls in (("crash", "CrashBackend"), ("hang", "HangBackend"), ("hog", "HogBackend"), ("raise", "RaiseBackend"),
                      ("spin", "SpinBackend"), ("envprobe", "EnvProbeBackend"), ("sleep", "SleepBackend")):
        monkeypatch.setitem(registry.BACKENDS, name, f"tests.helpers.faulty_backends:{cls}")
    return registry.BACKENDS


def harness_cli(*args, env=None, cwd=None):
    """Run the real console entry point in a subprocess."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, cwd=cwd or REPO, timeout=600,
    )


@pytest.fixture(scope="module")
def torch_one_thread():
    """Small-tensor math in the test process on one thread: exact, repeatable, and quiet for other work."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on loopback: real request and response shapes, nothing leaves the machine."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)


@pytest.fixture(scope="session")
def docs_workspace(tmp_path_factory):
    """The workspace the documented commands share (tests/docs_commands.py): one per test session."""
    from tests import docs_commands as dc
    from tests.helpers.require import require

    return dc.Workspace(tmp_path_factory.mktemp("docs-workspace"), require("sst2", "the documented commands read SST-2"))


@pytest.fixture(scope="session")
def docs_fakes():
    from tests.helpers.fake_aws import FakeAWS

    aws = FakeAWS()
    yield {"aws": aws}
    aws.stop()
