"""Append-only JSON-lines store of run records (results/runs/*.jsonl).

Each record is one line, written with a single write() under an exclusive file lock and fsync'd,
so a killed run leaves at most a truncated last line, which readers skip with a warning. Lines are
never rewritten. One file per machine keeps concurrent machines apart; the lock keeps concurrent
processes on one machine apart. Readers get typed RunRecords (harness.contracts); a line of the wrong
shape is reported with file:line and the reason, and the rest stays readable.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from .contracts import FutureVersion, RecordError, RunRecord


class StoreWarning(UserWarning):
    pass


@dataclass(frozen=True)
class BadLine:
    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


def runs_dir(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get("HARNESS_RESULTS_DIR") or "results") / "runs"


def encode_line(record: RunRecord) -> bytes:
    """One record as one JSON line (non-finite statistics become null: JSON has no inf or nan)."""
    return (json.dumps(record.to_json(), separators=(",", ":"), allow_nan=False) + "\n").encode()


def append_line(path: Path, data: bytes) -> Path:
    """Append `data` (whole lines) to `path` with one write under an exclusive lock, then fsync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            # a previous writer killed mid-line leaves no newline at the end: start on a fresh line
            size = os.fstat(fd).st_size
            if size:
                with open(path, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        data = b"\n" + data
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return path


def append_record(record: RunRecord, root: str | Path | None = None, name: str | None = None) -> Path:
    """Append one record as one line to runs/<machine id>.jsonl (or runs/<name>.jsonl); returns the file."""
    return append_line(runs_dir(root) / f"{name or record.machine.id}.jsonl", encode_line(record))


def parse_line(raw: bytes) -> RunRecord:
    """A stored line as a RunRecord; RecordError (with the reason) when it is not one."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"corrupt line ({getattr(exc, 'msg', None) or exc})") from None
    return RunRecord.from_json(data)


def iter_records(root: str | Path | None = None, bad_lines: list | None = None):
    """Yield every readable record; collect or warn about unreadable lines (file, line number and reason)."""
    directory = runs_dir(root)
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.jsonl")):
        with open(path, "rb") as fh:
            raw_lines = fh.read().split(b"\n")
        ends_with_newline = raw_lines and raw_lines[-1] == b""
        if ends_with_newline:
            raw_lines = raw_lines[:-1]
        for number, raw in enumerate(raw_lines, start=1):
            if not raw.strip():
                continue
            try:
                yield parse_line(raw)
            except FutureVersion as exc:
                _bad(bad_lines, BadLine(str(path), number, str(exc)))
            except RecordError as exc:
                truncated = number == len(raw_lines) and not ends_with_newline and str(exc).startswith("corrupt line")
                problem = "truncated last line (a run was killed while writing)" if truncated else str(exc)
                _bad(bad_lines, BadLine(str(path), number, problem))


def _bad(bad_lines: list | None, bad: BadLine) -> None:
    if bad_lines is not None:
        bad_lines.append(bad)
    else:
        warnings.warn(str(bad), StoreWarning, stacklevel=3)


def load_records(root: str | Path | None = None, *, report_bad: bool = True) -> list[RunRecord]:
    """All readable records; unreadable lines are reported on stderr with file and line."""
    bad: list[BadLine] = []
    records = list(iter_records(root, bad))
    if report_bad:
        for b in bad:
            print(f"harness: warning: skipped {b}", file=sys.stderr)
    return records


def recorded_keys(root: str | Path | None = None) -> set[tuple]:
    """(config_hash, machine id, git commit) of every readable record: what a resumed matrix may skip."""
    return {(r.config_hash, r.machine.id, r.git_commit) for r in iter_records(root, [])}
