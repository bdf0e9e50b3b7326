"""One way for a test to need an optional part of the set-up: `require(part)` returns what the test needs (a path)
when the part is here; otherwise it skips the test with the reason and how to get the part, except under CI (the
environment variable CI set, as .ci/run sets it), where a missing part is a failure: CI must run what it builds. `optional(part)` is the same rule for a test that
also runs without the part (it warns, locally, what it left out).

Parts: "sst2" (the SST-2 data directory), "deepsparse" (the DeepSparse environment .venv-deepsparse, which runs
its own interpreter), "chromium" (headless Chromium for the HTML reports) and "two-cpus" (tests that tell CPU
pinning apart).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def in_ci(environ=None) -> bool:
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() not in ("", "0", "false", "no")


def find_sst2() -> Path | None:
    """$HARNESS_DATA_DIR, else the directory the Makefile defaults to (../shared/data/sst2 beside the checkout)."""
    for candidate in (os.environ.get("HARNESS_DATA_DIR"), REPO.parent / "shared" / "data" / "sst2"):
        if candidate and (Path(candidate) / "train.tsv").is_file() and (Path(candidate) / "dev.tsv").is_file():
            return Path(candidate)
    return None


@cache
def find_deepsparse() -> Path | None:
    """The DeepSparse environment's interpreter, when it exists and imports deepsparse."""
    python = REPO / ".venv-deepsparse" / "bin" / "python"
    if not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", "import deepsparse"], capture_output=True, timeout=120,
                           env={**os.environ, "NM_DISABLE_ANALYTICS": "1"})
    return python if probe.returncode == 0 else None


def find_chromium() -> str | None:
    """The browser `make browser` checks for (`command -v chromium`)."""
    return shutil.which("chromium")


def two_cpus() -> int | None:
    n = len(os.sched_getaffinity(0))
    return n if n >= 2 else None


PARTS = {  # part -> (finder, what it is and how to get it)
    "sst2": (find_sst2, "SST-2 data (train.tsv, dev.tsv): set HARNESS_DATA_DIR or put it at ../shared/data/sst2"),
    "deepsparse": (find_deepsparse, "the DeepSparse environment .venv-deepsparse importing deepsparse: "
                                    "`make deepsparse-env` (x86-64 Linux, Python 3.8-3.11)"),
    "chromium": (find_chromium, "chromium on PATH: `make browser` installs it (apt-get install chromium)"),
    "two-cpus": (two_cpus, "at least 2 CPUs in this process's affinity mask"),
}


def require(part: str, why: str = ""):
    """What `part` finds (a path, a count); else skip the test with the reason, or fail it under CI."""
    found = PARTS[part][0]()
    if found:
        return found
    message = _missing(part, why)
    pytest.skip(message)


def optional(part: str, why: str = "") -> bool:
    """Whether `part` is here, for a test that runs without it and does more with it (DeepSparse beside the other
    engines): a missing part fails under CI, as in require(); elsewhere the test goes on without it and a warning
    says what it left out."""
    if PARTS[part][0]():
        return True
    warnings.warn(_missing(part, why) + "; left out", stacklevel=2)
    return False


def _missing(part: str, why: str) -> str:
    message = f"needs {PARTS[part][1]}" + (f": {why}" if why else "")
    if in_ci():
        pytest.fail(f"{message}; CI is set, so a missing part is a failure, not a skip", pytrace=False)
    return message
