"""Where the repository lies: the one place that knows how deep this file sits in the checkout."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
