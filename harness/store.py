"""Append-only JSON-lines store of run records (results/runs/*.jsonl).

Each record is one line, written with a single write() under an exclusive file lock and fsync'd,
so a killed run leaves at most a truncated last line, which readers skip with a warning. Lines are
never rewritten. One file per machine keeps concurrent machines apart; the lock keeps concurrent
processes on one machine apart.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from .schema import READABLE_VERSIONS

DEFAULT_ROOT = Path(os.environ.get("HARNESS_RESULTS_DIR", "results"))


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


def append_record(record: dict, root: str | Path | None = None, name: str | None = None) -> Path:
    """Append one record as one line; returns the file written."""
    directory = runs_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    machine_id = (record.get("machine") or {}).get("id") or "unknown"
    path = directory / f"{name or machine_id}.jsonl"
    line = json.dumps(record, separators=(",", ":"), allow_nan=False, default=_json_default) + "\n"
    data = line.encode()
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


def _json_default(obj):
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"record field of type {type(obj).__name__} is not JSON-serialisable")


def iter_records(root: str | Path | None = None, bad_lines: list | None = None):
    """Yield every readable record; collect or warn about unreadable lines (file and line number)."""
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
            last_unterminated = number == len(raw_lines) and not ends_with_newline
            problem = None
            try:
                record = json.loads(raw)
                if not isinstance(record, dict):
                    problem = "not a JSON object"
                elif record.get("schema_version") not in READABLE_VERSIONS:
                    problem = (
                        f"schema_version {record.get('schema_version')!r} is not readable by this harness "
                        f"(reads {', '.join(map(str, READABLE_VERSIONS))}); upgrade the harness"
                    )
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                problem = "truncated last line (a run was killed while writing)" if last_unterminated else f"corrupt line ({exc.msg})"
            if problem:
                bad = BadLine(str(path), number, problem)
                if bad_lines is not None:
                    bad_lines.append(bad)
                else:
                    warnings.warn(str(bad), StoreWarning, stacklevel=2)
                continue
            yield record


def load_records(root: str | Path | None = None, *, report_bad: bool = True) -> list[dict]:
    """All readable records; unreadable lines are reported on stderr with file and line."""
    bad: list[BadLine] = []
    records = list(iter_records(root, bad))
    if report_bad:
        for b in bad:
            print(f"harness: warning: skipped {b}", file=sys.stderr)
    return records


def recorded_keys(root: str | Path | None = None) -> set[tuple]:
    """(config_hash, machine id, git commit) of every readable record: what a resumed matrix may skip."""
    return {
        (r.get("config_hash"), (r.get("machine") or {}).get("id"), r.get("git_commit"))
        for r in iter_records(root, [])
    }


def flatten(record: dict) -> dict:
    """One flat row per record for tables and CSV."""
    cfg = record.get("config") or {}
    eff = record.get("effective") or {}
    met = record.get("metrics") or {}
    lat = met.get("latency_ms") or {}
    mach = record.get("machine") or {}
    ci = lat.get("ci95") or {}
    quality = met.get("quality") or {}
    return {
        "created_at": record.get("created_at"),
        "status": record.get("status"),
        "model": cfg.get("model"),
        "variant": cfg.get("variant_name") or (Path(cfg["variant"]).name if cfg.get("variant") else "dense"),
        "sparsity": cfg.get("sparsity"),
        "backend": cfg.get("backend"),
        "kernel": eff.get("kernel") or cfg.get("kernel"),
        "precision": eff.get("precision") or cfg.get("precision"),
        "scenario": cfg.get("scenario"),
        "batch": cfg.get("batch_size"),
        "seq": cfg.get("seq_len"),
        "threads": eff.get("threads") or cfg.get("threads"),
        "p50_ms": lat.get("p50"),
        "p50_ci_low": (ci.get("p50") or [None, None])[0],
        "p50_ci_high": (ci.get("p50") or [None, None])[1],
        "p90_ms": lat.get("p90"),
        "p99_ms": lat.get("p99"),
        "mean_ms": lat.get("mean"),
        "std_ms": lat.get("std"),
        "n": lat.get("n"),
        "throughput_per_s": met.get("throughput_per_s"),
        "gflops_per_s": met.get("gflops_per_s"),
        "roofline_fraction": met.get("roofline_fraction"),
        "peak_rss_mb": (met.get("peak_rss_bytes") or 0) / 2**20 or None,
        "artifact_mb": (met.get("artifact_bytes") or 0) / 2**20 or None,
        "accuracy": quality.get("accuracy"),
        "top1_agreement": quality.get("top1_agreement"),
        "instance_type": mach.get("instance_type"),
        "machine_id": mach.get("id"),
        "git_commit": record.get("git_commit"),
        "config_hash": record.get("config_hash"),
        "reason": record.get("reason"),
        "record_id": record.get("record_id"),
    }


def to_frame(records: list[dict]):
    """A pandas DataFrame with one flat row per record."""
    import pandas as pd  # heavy: only for reporting paths

    return pd.DataFrame([flatten(r) for r in records])
