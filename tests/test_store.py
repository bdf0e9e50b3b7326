"""The append-only store: round trip, truncated and corrupt lines, concurrent appends."""

import json
import multiprocessing as mp

import pytest

from harness.store import BadLine, append_record, iter_records, load_records, runs_dir, to_frame


def rec(i, machine="m1"):
    return {"schema_version": 1, "record_id": f"r{i}", "status": "ok", "config": {"model": "bert-tiny", "backend": "torch"},
            "machine": {"id": machine}, "created_at": f"2026-01-01T00:00:{i:02d}", "config_hash": f"h{i}", "metrics": {}}


def test_round_trip(tmp_path):
    for i in range(3):
        append_record(rec(i), tmp_path)
    got = load_records(tmp_path)
    assert [r["record_id"] for r in got] == ["r0", "r1", "r2"]
    assert (runs_dir(tmp_path) / "m1.jsonl").read_text().count("\n") == 3
    frame = to_frame(got)
    assert list(frame["record_id"]) == ["r0", "r1", "r2"]


def test_truncated_last_line_is_skipped_and_reported(tmp_path, capsys):
    append_record(rec(0), tmp_path)
    path = runs_dir(tmp_path) / "m1.jsonl"
    with open(path, "a") as fh:
        fh.write(json.dumps(rec(1))[:40])  # a writer killed mid-line
    bad = []
    records = list(iter_records(tmp_path, bad))
    assert [r["record_id"] for r in records] == ["r0"]
    assert len(bad) == 1 and bad[0].line == 2 and "truncated" in bad[0].problem
    # the next append starts on a fresh line and nothing earlier is lost
    append_record(rec(2), tmp_path)
    bad = []
    assert [r["record_id"] for r in iter_records(tmp_path, bad)] == ["r0", "r2"]
    assert "corrupt" in bad[0].problem and bad[0].line == 2
    load_records(tmp_path)
    assert f"{path}:2" in capsys.readouterr().err


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    path = runs_dir(tmp_path)
    path.mkdir(parents=True)
    lines = [json.dumps(rec(0)), "{not json", json.dumps(rec(2))]
    (path / "x.jsonl").write_text("\n".join(lines) + "\n")
    bad: list[BadLine] = []
    assert [r["record_id"] for r in iter_records(tmp_path, bad)] == ["r0", "r2"]
    assert str(bad[0]).startswith(str(path / "x.jsonl") + ":2: corrupt line")


def test_newer_schema_version_is_refused_readably(tmp_path):
    r = rec(0) | {"schema_version": 99}
    append_record(r, tmp_path)
    bad = []
    assert list(iter_records(tmp_path, bad)) == []
    assert "schema_version 99" in bad[0].problem


def _writer(root, start):
    for i in range(start, start + 50):
        append_record(rec(i) | {"pad": "x" * 5000}, root)


def test_concurrent_appends_lose_and_interleave_nothing(tmp_path):
    procs = [mp.get_context("spawn").Process(target=_writer, args=(str(tmp_path), k * 100)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    bad = []
    ids = sorted(r["record_id"] for r in iter_records(tmp_path, bad))
    assert bad == []
    assert len(ids) == 100 and len(set(ids)) == 100


def test_unserialisable_field_is_an_error_not_a_half_line(tmp_path):
    with pytest.raises(TypeError):
        append_record(rec(0) | {"bad": object()}, tmp_path)
    assert not (runs_dir(tmp_path) / "m1.jsonl").exists() or (runs_dir(tmp_path) / "m1.jsonl").read_text() == ""
