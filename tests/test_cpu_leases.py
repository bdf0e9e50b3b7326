"""CPU leases (harness.runner.cpus): concurrent harness runs on one machine measure on different cores, or wait."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time

from harness.contracts import BenchConfig, Settings
from harness.measure.bench import measure
from harness.runner.cpus import LEASE_DIR_ENV, _try_lease, lease_cpus
from tests.conftest import REPO
from tests.helpers.require import require

QUICK = Settings(warmup_iters=1, warmup_s=0.0, min_iters=5, min_duration_s=0.02, percentile_target=None)


def _usable() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def test_a_lease_takes_the_first_free_cpus_and_releases_them(tmp_path):
    require("two-cpus", "a second lease takes the next CPU")
    first, second = _usable()[:2]
    with lease_cpus(1, directory=tmp_path) as a:
        assert a.cpus == (first,) and len(a.fds) == 1 and a.waited_s == 0.0
        with lease_cpus(1, directory=tmp_path) as b:
            assert b.cpus == (second,)
    with lease_cpus(1, directory=tmp_path) as again:  # both released
        assert again.cpus == (first,)


def test_a_lease_of_more_cpus_than_are_free_waits_for_them(tmp_path):
    require("two-cpus", "one CPU held, every CPU wanted")
    usable = _usable()
    other, held = _other_run(tmp_path, 1)
    assert held == (usable[0],)
    timer = threading.Timer(0.3, other.stdin.close)  # the other run ends a moment later
    timer.start()
    with lease_cpus(len(usable), directory=tmp_path) as everything:
        assert other.wait(timeout=60) == 0  # granted only once the other run had let go
        assert everything.cpus == tuple(usable) and everything.waited_s > 0
    timer.join()


def test_a_run_waiting_for_every_cpu_is_not_overtaken_by_later_ones(tmp_path):
    """The queue: while a run waits for every CPU, a later run wanting one CPU that is free waits behind it."""
    require("two-cpus", "one CPU held, another free, a run waiting for both")
    granted: list[str] = []

    def run(name: str, threads: int):
        with lease_cpus(threads, directory=tmp_path):
            granted.append(name)

    with lease_cpus(1, directory=tmp_path):
        every = threading.Thread(target=run, args=("every", len(_usable())))
        every.start()
        _wait_until(lambda: _held(tmp_path / "queue.lock"), "the run wanting every CPU to wait in line")
        one = threading.Thread(target=run, args=("one", 1))
        one.start()
        one.join(timeout=0.3)  # time enough to take the free CPU, were it allowed to overtake
        assert granted == [] and one.is_alive()
    every.join(timeout=60)
    one.join(timeout=60)
    assert granted == ["every", "one"]


def _held(path) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken just now
    return False


def _wait_until(condition, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_worker_keeps_its_lease_after_the_parent_lets_go(tmp_path):
    """The lock files are inherited: a worker still running (the parent killed, say) still holds its CPU."""
    cpu = _usable()[0]
    with lease_cpus(1, directory=tmp_path) as lease:
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                                 pass_fds=lease.fds)
    try:
        assert _try_lease(tmp_path, [cpu], 1) is None  # the child holds it
    finally:
        child.communicate(b"", timeout=60)
    free = _try_lease(tmp_path, [cpu], 1)
    assert free is not None and free[0][0] == cpu
    os.close(free[0][1])


def test_unpinned_runs_take_no_lease_and_an_unwritable_directory_pins_unleased(tmp_path):
    with lease_cpus(1, pinning=False, directory=tmp_path) as unpinned:
        assert unpinned.cpus == tuple(_usable()) and unpinned.fds == ()
    assert not any(tmp_path.iterdir())
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with lease_cpus(1, directory=blocked / "leases") as unleased:
        assert unleased.cpus == (_usable()[0],) and unleased.fds == ()


def test_a_configuration_measures_on_a_cpu_no_other_run_holds_and_records_its_wait(tmp_path, monkeypatch):
    require("two-cpus", "one CPU held by another run, the configuration on the other")
    leases = tmp_path / "leases"
    monkeypatch.setenv(LEASE_DIR_ENV, str(leases))
    first, second = _usable()[:2]
    config = BenchConfig(model="bert-tiny", backend="onnxruntime", seq_len=16, threads=1, settings=QUICK)
    other, held = _other_run(leases, 1)
    try:
        assert held == (first,)
        r = measure(config, calibrate=False, root=tmp_path / "results")
    finally:
        other.stdin.close()
        other.wait(timeout=60)
    assert r.status == "ok", r.reason
    assert r.effective.cpus == (second,) and set(r.effective.cpus_observed) <= {second}
    assert r.phases.cpu_wait_s == 0.0

    other, held = _other_run(leases, len(_usable()))
    timer = threading.Timer(0.3, other.stdin.close)
    timer.start()
    waited = measure(config, calibrate=False, root=tmp_path / "results")
    timer.join()
    assert other.wait(timeout=60) == 0
    assert waited.status == "ok", waited.reason
    assert waited.phases.cpu_wait_s > 0 and waited.effective.cpus == (first,)


def _other_run(directory, threads: int):
    """Another harness run on this machine: a process holding a lease of `threads` CPUs until its stdin closes;
    (the process, the CPUs it holds)."""
    code = ("import sys\nfrom pathlib import Path\nfrom harness.runner.cpus import lease_cpus\n"
            f"with lease_cpus({threads}, directory=Path({str(directory)!r})) as lease:\n"
            "    print(','.join(map(str, lease.cpus)), flush=True)\n    sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=REPO)
    line = proc.stdout.readline()
    assert line, "the other run ended before it held a lease"
    return proc, tuple(int(c) for c in line.strip().split(","))
