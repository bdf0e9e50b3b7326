"""Which CPUs a worker is pinned to, leased for as long as it runs.

A worker measures on the first free CPUs of this process's affinity mask (which taskset and containers narrow).
Free means that no other harness process on this machine holds them: each CPU has a lock file (flock) in one
directory per user, taken before the worker starts and inherited by it, so a lease ends when the worker ends,
however it ends (its exit, the timeout's kill, the parent killed with -9). Two harness runs on one machine (two
shells, a nightly beside a sweep, two test workers) therefore measure on different cores, or the later one waits
for the CPUs it needs; without leases every run's first worker took CPU 0 and both measured the sharing.

Where the lock directory cannot be written, workers are pinned as before, to the first CPUs, without a lease.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

LEASE_DIR_ENV = "HARNESS_CPU_LEASE_DIR"
POLL_S = 0.05


@dataclass(frozen=True)
class CpuLease:
    """The CPUs a worker runs on, the lock files it must inherit to hold them, and how long getting them took."""

    cpus: tuple[int, ...]
    fds: tuple[int, ...] = ()
    waited_s: float = 0.0


def lease_dir() -> Path:
    """The lock files of this machine's harness runs (one directory per user)."""
    return Path(os.environ.get(LEASE_DIR_ENV) or Path(tempfile.gettempdir()) / f"harness-cpu-leases-{os.getuid()}")


def _usable() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def _try_lease(directory: Path, usable: list[int], want: int) -> list[tuple[int, int]] | None:
    """(cpu, fd) pairs for the first `want` free CPUs, locked; None (nothing held) when fewer are free."""
    held: list[tuple[int, int]] = []
    try:
        for cpu in usable:
            fd = os.open(directory / f"cpu-{cpu}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            held.append((cpu, fd))
            if len(held) == want:
                return held
    except BaseException:
        _release(fd for _, fd in held)
        raise
    _release(fd for _, fd in held)
    return None


def _release(fds) -> None:
    for fd in fds:
        os.close(fd)


def _lease_in_line(directory: Path, usable: list[int], want: int, clock) -> tuple[list[tuple[int, int]], float]:
    """(cpu, fd) pairs for `want` CPUs and the seconds waited for them (0.0: free at once). A run waits in line
    (the queue lock, held while it waits): one that wants every CPU is then not overtaken, time after time, by runs
    that want one and find it free between two workers."""
    start = clock()
    queue = os.open(directory / "queue.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            fcntl.flock(queue, fcntl.LOCK_EX)  # an earlier run is waiting: after it (Ctrl-C still interrupts)
            waited = True
        while (held := _try_lease(directory, usable, want)) is None:
            waited = True
            time.sleep(POLL_S)
        return held, (round(clock() - start, 3) if waited else 0.0)
    finally:
        os.close(queue)


@contextlib.contextmanager
def lease_cpus(threads: int, *, pinning: bool = True, directory: Path | None = None, clock=time.monotonic):
    """Yield a CpuLease of `threads` CPUs (at most the usable ones), waiting while other harness runs hold them;
    released on exit. pinning=False: every usable CPU, no lease (the run asked not to be pinned)."""
    usable = _usable()
    if not pinning:
        yield CpuLease(tuple(usable))
        return
    want = max(1, min(threads, len(usable)))
    directory = directory or lease_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        held, waited_s = _lease_in_line(directory, usable, want, clock)
    except OSError:  # no place for lock files: pinned as before, to the first CPUs, unleased
        held, waited_s = None, 0.0
    if held is None:
        yield CpuLease(tuple(usable[:want]))
        return
    try:
        yield CpuLease(tuple(cpu for cpu, _ in held), tuple(fd for _, fd in held), waited_s)
    finally:
        _release(fd for _, fd in held)
