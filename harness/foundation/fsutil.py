"""Writing files so that a reader never sees half of one: the one way the harness writes a file.

    with atomic_output(path, suffix=".npz") as tmp:   # any writer that takes a path (np.savez, savefig,
        np.savez(tmp, **arrays)                        # torch.onnx.export, ...)
    atomic_write_text(path, text)                      # text and bytes
    atomic_write_dir(out, fill)                        # a whole directory, swapped into place

Each writes to a temporary name beside the target and renames it into place; on any failure the
temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: str | Path, suffix: str = ""):
    """Yield a temporary path beside `path` (mode 0644); rename it onto `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_dir(out: str | Path, fill) -> Path:
    """Build a directory with `fill(tmp_dir)` beside `out`, then swap it into place.

    Readers see the old directory or the complete new one, never a mix; a failure in `fill` leaves
    `out` as it was.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        fill(tmp)
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
