"""The append-only store: round trip, truncated and corrupt lines, concurrent appends."""

import json
import multiprocessing as mp

import pytest

from harness.results.report.flat import to_frame
from harness.results.store import BadLine, append_record, iter_records, load_records, runs_dir
from tests.helpers.records import record


def rec(i, machine="m1", **kw):
    return record(f"r{i}", machine_id=machine, created_at=f"2026-01-01T00:00:{i:02d}", config_hash=f"h{i}", **kw)


def test_round_trip(tmp_path):
    for i in range(3):
        append_record(rec(i), tmp_path)
    got = load_records(tmp_path)
    assert [r.record_id for r in got] == ["r0", "r1", "r2"]
    assert (runs_dir(tmp_path) / "m1.jsonl").read_text().count("\n") == 3
    frame = to_frame(got)
    assert list(frame["record_id"]) == ["r0", "r1", "r2"]


def test_truncated_last_line_is_skipped_and_reported(tmp_path, capsys):
    append_record(rec(0), tmp_path)
    path = runs_dir(tmp_path) / "m1.jsonl"
    with open(path, "a") as fh:
        fh.write(json.dumps(rec(1).to_json())[:40])  # a writer killed mid-line
    bad = []
    records = list(iter_records(tmp_path, bad))
    assert [r.record_id for r in records] == ["r0"]
    assert len(bad) == 1 and bad[0].line == 2 and "truncated" in bad[0].problem
    # the next append starts on a fresh line and nothing earlier is lost
    append_record(rec(2), tmp_path)
    bad = []
    assert [r.record_id for r in iter_records(tmp_path, bad)] == ["r0", "r2"]
    assert "corrupt" in bad[0].problem and bad[0].line == 2
    load_records(tmp_path)
    assert f"{path}:2" in capsys.readouterr().err


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    path = runs_dir(tmp_path)
    path.mkdir(parents=True)
    lines = [json.dumps(rec(0).to_json()), "{not json", json.dumps(rec(2).to_json())]
    (path / "x.jsonl").write_text("\n".join(lines) + "\n")
    bad: list[BadLine] = []
    assert [r.record_id for r in iter_records(tmp_path, bad)] == ["r0", "r2"]
    assert str(bad[0]).startswith(str(path / "x.jsonl") + ":2: corrupt line")


def test_the_repositorys_own_records_of_every_version_still_read():
    """results/runs/ holds lines written by earlier harness versions (schema 1 and 2): all of them read."""
    from harness.contracts import READABLE_VERSIONS
    from harness.foundation.paths import REPO_ROOT

    root = REPO_ROOT / "results"
    written = [json.loads(line) for path in sorted(runs_dir(root).glob("*.jsonl"))
               for line in path.read_text().splitlines() if line.strip()]
    bad: list[BadLine] = []
    records = list(iter_records(root, bad))
    assert bad == [] and len(records) == len(written) > 0
    assert {d["schema_version"] for d in written} == set(READABLE_VERSIONS)  # a fixture of each version
    assert [r.record_id for r in records] == [d["record_id"] for d in written]
    assert {r.schema_version for r in records} == {READABLE_VERSIONS[-1]}


def test_newer_schema_version_is_refused_readably(tmp_path):
    append_record(rec(0).replace(schema_version=99), tmp_path)
    bad = []
    assert list(iter_records(tmp_path, bad)) == []
    assert "schema_version 99 was written by a newer harness" in bad[0].problem


class _ChunkyOS:
    """os, except that write() writes at most 64 bytes and then yields the CPU: a writer whose lines take
    many system calls, so two such writers interleave their chunks unless something serialises them."""

    def __getattr__(self, name):
        import os

        return getattr(os, name)

    def write(self, fd, data):
        import os
        import time

        n = os.write(fd, bytes(data[:64]))
        time.sleep(0.0002)
        return n


def _writer(root, start, barrier):
    """Append 20 records in chunks; both writers start together and meet again halfway, so their appends
    overlap in time by construction (neither finishes before the other is halfway)."""
    import harness.results.store as store

    store.os = _ChunkyOS()
    barrier.wait(timeout=120)
    for i in range(start, start + 20):
        append_record(rec(i).replace(stderr_tail="x" * 3000), root)
        if i == start + 9:
            barrier.wait(timeout=120)


def test_concurrent_appends_lose_and_interleave_nothing(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), k * 100, barrier)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    bad = []
    ids = sorted(r.record_id for r in iter_records(tmp_path, bad))
    assert bad == []
    assert len(ids) == 40 and len(set(ids)) == 40


def test_every_write_of_a_line_happens_under_the_lock(tmp_path, monkeypatch):
    """What keeps concurrent writers apart, checked without a race: each chunk of a line is written between the
    exclusive lock and its release, on the same file descriptor."""
    import fcntl

    import harness.results.store as store

    events = []

    class Recording(_ChunkyOS):
        def write(self, fd, data):
            events.append(("write", fd))
            return super().write(fd, data)

    class Lock:
        LOCK_EX, LOCK_UN = fcntl.LOCK_EX, fcntl.LOCK_UN

        @staticmethod
        def flock(fd, op):
            events.append(("lock" if op == fcntl.LOCK_EX else "unlock", fd))
            fcntl.flock(fd, op)

    monkeypatch.setattr(store, "os", Recording())
    monkeypatch.setattr(store, "fcntl", Lock)
    for i in range(3):
        append_record(rec(i).replace(stderr_tail="x" * 500), tmp_path)
    held = None
    for kind, fd in events:
        if kind == "lock":
            assert held is None
            held = fd
        elif kind == "unlock":
            assert held == fd
            held = None
        else:
            assert held == fd, "a chunk written without the lock"
    assert held is None and sum(kind == "write" for kind, _ in events) > 3 * 8  # each line took many writes
    assert [r.record_id for r in load_records(tmp_path)] == ["r0", "r1", "r2"]


def test_unserialisable_field_is_an_error_not_a_half_line(tmp_path):
    with pytest.raises(TypeError):
        append_record(rec(0).replace(config_hash=object()), tmp_path)
    assert not (runs_dir(tmp_path) / "m1.jsonl").exists() or (runs_dir(tmp_path) / "m1.jsonl").read_text() == ""
