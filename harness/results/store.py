"""Append-only JSON-lines store of run records (results/runs/*.jsonl).

Each record is one line, written with a single write() under an exclusive file lock and fsync'd,
so a killed run leaves at most a truncated last line, which readers skip with a warning. Lines are
never rewritten. One file per machine keeps concurrent machines apart; the lock keeps concurrent
processes on one machine apart. Readers get typed RunRecords (harness.contracts); a line of the wrong
shape (not JSON, nested too deep, too long, a field of the wrong type, an unknown status, a schema
version from a newer harness) and a file that cannot be read are reported with file:line and the
reason, and the rest stays readable.

A measured record is never lost to its writer: statistics that are not finite are stored as null and
named in the record's reason, and a record that cannot be appended where asked (a directory that became
read-only, a full disk) goes to a rescue store (rescue_roots()) that the caller names to the user.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import os
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import FutureVersion, RecordError, RunRecord

MAX_LINE_BYTES = 64 * 2**20  # a record with max_iters raw samples is about 2 MB
MAX_LINE_DEPTH = 32  # lists and mappings inside one another; records nest about 6 deep
_JSON_SPECIAL = re.compile(rb'[\[\]{}"\\]')  # what nesting and strings are made of (numbers are skipped)
RESCUE_DIR_NAME = "harness-rescued"


class StoreWarning(UserWarning):
    pass


@dataclass(frozen=True)
class BadLine:
    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}" if self.line else f"{self.path}: {self.problem}"


def runs_dir(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get("HARNESS_RESULTS_DIR") or "results") / "runs"


def non_finite_fields(value, path: str = "") -> list[str]:
    """Field paths of `value` (a contract, or the mappings and lists inside one) that hold inf or nan."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{path} ({value})"]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
        return [p for name, v in items for p in non_finite_fields(v, f"{path}.{name}" if path else name)]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in non_finite_fields(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in non_finite_fields(v, f"{path}[{i}]")]
    return []


def encode_line(record: RunRecord) -> bytes:
    """One record as one JSON line. JSON has no inf or nan: such values are stored as null, and the record's
    reason names them (at most three, then a count)."""
    data = record.to_json()
    bad = non_finite_fields(record)
    if bad:
        named = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        note = f"not finite, stored as null: {named}"
        data["reason"] = f"{record.reason}; {note}" if record.reason else note
    return (json.dumps(data, separators=(",", ":"), allow_nan=False) + "\n").encode()


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


def rescue_roots() -> list[Path]:
    """Where records go when their store cannot take them, in order: $HARNESS_RESCUE_DIR, the temporary
    directory, ~/.cache (each a results root: records land in <root>/runs/<machine id>.jsonl)."""
    roots = [os.environ.get("HARNESS_RESCUE_DIR"), os.path.join(tempfile.gettempdir(), RESCUE_DIR_NAME),
             os.path.join(os.path.expanduser("~"), ".cache", "harness", "rescued")]
    return [Path(r) for r in roots if r]


@dataclass(frozen=True)
class Rescued:
    """A record written to a rescue store because its own store failed."""

    wanted: Path  # the file it should have gone to
    problem: str  # why it could not
    path: Path  # the file it went to instead
    root: Path  # that file's results root (`harness results --results ROOT` reads it)


def append_or_rescue(record: RunRecord, root: str | Path | None = None) -> Rescued | None:
    """Append `record` to its store; None when that worked. When the store cannot be written, append it to
    the first rescue store that can be and say where; OSError only when none can."""
    wanted = runs_dir(root) / f"{record.machine.id}.jsonl"
    data = encode_line(record)
    try:
        append_line(wanted, data)
        return None
    except OSError as exc:
        problem = exc.strerror or str(exc)
        failure = exc
    for rescue in rescue_roots():
        target = runs_dir(rescue) / wanted.name
        try:
            if target.resolve() != wanted.resolve():  # never the store that just failed
                return Rescued(wanted=wanted, problem=problem, path=append_line(target, data), root=rescue)
        except OSError:
            continue
    raise failure


def json_depth(raw: bytes) -> int:
    """How deep the lists and mappings of a JSON text nest (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string, escaped = False, -1
    for match in _JSON_SPECIAL.finditer(raw):
        i = match.start()
        if i == escaped:
            continue
        char = raw[i:i + 1]
        if in_string:
            if char == b"\\":
                escaped = i + 1
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def parse_line(raw: bytes) -> RunRecord:
    """A stored line as a RunRecord; RecordError (with the reason) when it is not one."""
    if len(raw) > MAX_LINE_BYTES:
        raise RecordError(f"line of {len(raw):,} bytes is longer than any record ({MAX_LINE_BYTES:,}-byte limit)")
    depth = json_depth(raw)
    if depth > MAX_LINE_DEPTH:
        raise RecordError(f"nested {depth:,} levels deep; a record nests at most {MAX_LINE_DEPTH}")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"corrupt line ({getattr(exc, 'msg', None) or exc})") from None
    except RecursionError:
        raise RecordError("corrupt line (nested deeper than JSON readers go)") from None
    try:
        return RunRecord.from_json(data)
    except RecursionError:
        raise RecordError("not a record (nested deeper than any record field)") from None


def iter_records(root: str | Path | None = None, bad_lines: list | None = None):
    """Yield every readable record; collect or warn about unreadable lines (file, line number and reason)."""
    directory = runs_dir(root)
    if not os.path.isdir(directory):  # also a path too long to exist
        return
    try:
        paths = sorted(directory.glob("*.jsonl"))
    except OSError as exc:
        _bad(bad_lines, BadLine(str(directory), 0, f"cannot list ({exc.strerror or exc})"))
        return
    for path in paths:
        try:
            with open(path, "rb") as fh:
                raw_lines = fh.read().split(b"\n")
        except OSError as exc:  # a directory named *.jsonl, no permission
            _bad(bad_lines, BadLine(str(path), 0, f"cannot read ({exc.strerror or exc})"))
            continue
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
