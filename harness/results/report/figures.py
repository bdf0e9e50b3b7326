"""Saving matplotlib figures: the one way a PNG is written (atomically), and the figure always closed."""

from __future__ import annotations

from pathlib import Path

from harness.foundation.fsutil import atomic_output


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display on a benchmark machine)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path, dpi: int = 110) -> Path:
    """Write `fig` to `path` as PNG through a temporary file, then close it."""
    import matplotlib.pyplot as plt

    try:
        with atomic_output(path, ".png") as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return Path(path)
