"""Headless Chromium for the tests that render HTML, found the way `make browser` finds it (tests/helpers/require.py:
without one a test skips with the install hint, except under CI, where it fails)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.require import require

HEADLESS_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def require_chromium(what: str = "this test renders HTML") -> str:
    """The browser's path; else fail the test under CI, skip it elsewhere."""
    return require("chromium", what)


def headless(url: str, profile: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run headless Chromium on `url` with its own profile directory (--dump-dom, --screenshot=... in extra)."""
    chromium = require_chromium()
    return subprocess.run([chromium, *HEADLESS_FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=timeout)
