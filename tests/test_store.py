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


def _writer(root, start, use_lock, spans):
    import fcntl
    import time

    import harness.results.store as store

    store.os = _ChunkyOS()
    if not use_lock:
        store.fcntl = type("NoLock", (), {"LOCK_EX": fcntl.LOCK_EX, "LOCK_UN": fcntl.LOCK_UN,
                                          "flock": staticmethod(lambda fd, op: None)})
    t0 = time.time()
    for i in range(start, start + 20):
        append_record(rec(i).replace(stderr_tail="x" * 3000), root)
    spans.append((t0, time.time()))


def _two_writers(root, use_lock):
    ctx = mp.get_context("spawn")
    spans = ctx.Manager().list()
    procs = [ctx.Process(target=_writer, args=(str(root), k * 100, use_lock, spans)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    (a0, a1), (b0, b1) = spans
    assert max(a0, b0) < min(a1, b1), "the two writers did not overlap in time; the test proves nothing"
    bad = []
    return sorted(r.record_id for r in iter_records(root, bad)), bad


def test_concurrent_appends_lose_and_interleave_nothing(tmp_path):
    ids, bad = _two_writers(tmp_path / "locked", use_lock=True)
    assert bad == []
    assert len(ids) == 40 and len(set(ids)) == 40
    # the same writers without the lock corrupt lines: the lock is what keeps them apart
    ids, bad = _two_writers(tmp_path / "unlocked", use_lock=False)
    assert bad and len(ids) < 40


def test_unserialisable_field_is_an_error_not_a_half_line(tmp_path):
    with pytest.raises(TypeError):
        append_record(rec(0).replace(config_hash=object()), tmp_path)
    assert not (runs_dir(tmp_path) / "m1.jsonl").exists() or (runs_dir(tmp_path) / "m1.jsonl").read_text() == ""
