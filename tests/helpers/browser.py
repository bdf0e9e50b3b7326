"""Headless Chromium for the tests that render HTML, found the way `make browser` finds it.

A test that needs the browser calls require_chromium(): without one it is skipped, with the install
hint, except under CI (the environment variable CI set, as .ci/run sets it), where a missing browser
is a failure: CI must render what it builds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL_HINT = "make browser installs it: apt-get install chromium"
HEADLESS_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def find_chromium() -> str | None:
    """The browser `make browser` checks for (`command -v chromium`), or None."""
    return shutil.which("chromium")


def in_ci(environ=None) -> bool:
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() not in ("", "0", "false", "no")


def require_chromium(what: str = "this test renders HTML") -> str:
    """The browser's path; else fail the test under CI, skip it elsewhere."""
    path = find_chromium()
    if path:
        return path
    message = f"chromium is not on PATH ({INSTALL_HINT}): {what}"
    if in_ci():
        pytest.fail(f"{message}; CI is set, so a missing browser is a failure, not a skip", pytrace=False)
    pytest.skip(message)


def headless(url: str, profile: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run headless Chromium on `url` with its own profile directory (--dump-dom, --screenshot=... in extra)."""
    chromium = require_chromium()
    return subprocess.run([chromium, *HEADLESS_FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=timeout)
