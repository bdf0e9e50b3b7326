"""Results are never lost after measuring, and one bad line never hides the rest of the store."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.contracts import SCHEMA_VERSION, LatencyStats
from harness.results.store import BadLine, append_or_rescue, encode_line, iter_records, load_records, runs_dir
from tests.helpers.hostile import complete_json_lines
from tests.helpers.records import record

GOOD = record("good", created_at="2026-01-01T00:00:00")


def _line(**changes) -> str:
    data = GOOD.to_json() | {"record_id": "bad"}
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    return json.dumps(data)


BAD_LINES = [
    (_line(metrics=[1, 2]), "metrics: expected a mapping, got [1, 2]"),
    (_line(status="exploded"), "status: unknown value 'exploded'; valid: ok, error"),
    (_line(status="x" * 100_000), "status: unknown value 'xxxx"),
    (_line(schema_version=SCHEMA_VERSION + 1), f"schema_version {SCHEMA_VERSION + 1} was written by a newer harness"),
    (_line(schema_version=0), "schema_version 0 is not a version this harness knows"),
    (_line(schema_version="2"), "schema_version: expected an integer, got '2'"),
    (_line(config=None), "config: expected a mapping, got None"),
    (_line(config__batch_size=0), "batch_size: expected a positive integer, got 0"),
    (_line(config__threads="two"), "config.threads: expected an integer, got 'two'"),
    (_line(samples_ms="fast"), "samples_ms: expected a list, got 'fast'"),
    (_line(samples_ms=[1.0, "x"]), "samples_ms[1]: expected a number, got 'x'"),
    (_line(machine=5), "machine: expected a mapping, got 5"),
    (_line(metrics__latency_ms__n="many"), "metrics.latency_ms.n: expected an integer, got 'many'"),
    (_line(effective__cpus={"a": 1}), "effective.cpus: expected a list"),
    ("[1, 2]", "expected a JSON object, got list"),
    ("null", "expected a JSON object, got NoneType"),
    ('"text"', "expected a JSON object, got str"),
    ("1e999", "expected a JSON object, got float"),
    ("{not json", "corrupt line"),
    ("[" * 100_000 + "]" * 100_000, "nested 100,000 levels deep; a record nests at most 32"),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested 100,000 levels deep; a record nests at most 32"),
    (_line(effective__engine=json.loads('{"a":' * 900 + "1" + "}" * 900)), "nested 902 levels deep"),
    (_line(stderr_tail="[[[{{{" * 1000), None),  # brackets inside a string are text, not nesting
    ("\udcff".encode("utf-8", "surrogatepass").decode("latin-1"), "corrupt line"),
]


def _store_with(tmp_path, lines: list[str]):
    directory = runs_dir(tmp_path)
    directory.mkdir(parents=True)
    path = directory / "m1.jsonl"
    body = [json.dumps(GOOD.to_json())] + lines + [json.dumps(record("last", created_at="2026-01-02T00:00:00").to_json())]
    path.write_bytes(("\n".join(body) + "\n").encode("utf-8", "surrogateescape"))
    return path


@pytest.mark.parametrize("line, problem", BAD_LINES, ids=[f"{i:02d}" for i in range(len(BAD_LINES))])
def test_a_bad_line_is_named_with_file_line_and_reason_and_the_rest_reads(tmp_path, line, problem):
    path = _store_with(tmp_path, [line])
    bad: list[BadLine] = []
    ids = [r.record_id for r in iter_records(tmp_path, bad)]
    if problem is None:  # a good line after all
        assert ids == ["good", "bad", "last"] and bad == []
        return
    assert ids == ["good", "last"]
    [b] = bad
    assert (b.path, b.line) == (str(path), 2)
    assert problem in b.problem and len(b.problem) < 400
    assert ("newer harness" in b.problem) == ("written by a newer harness" in problem)


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_results_survives_every_bad_line_in_every_format(tmp_path, capsys, fmt):
    bad_lines = [line for line, problem in BAD_LINES if problem]
    _store_with(tmp_path, bad_lines)
    assert main(["results", "--results", str(tmp_path), "--format", fmt]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    warnings = [ln for ln in err.splitlines() if ln.startswith("harness: warning: skipped")]
    assert len(warnings) == len(bad_lines) == len(err.splitlines())
    assert all(len(w) < 500 for w in warnings)
    if fmt == "json":
        assert [r["record_id"] for r in json.loads(out)] == ["good", "last"]
    else:
        assert len([ln for ln in out.splitlines() if "bert-base" in ln]) == 2


def test_a_file_that_cannot_be_read_is_reported_and_skipped(tmp_path):
    _store_with(tmp_path, [])
    (runs_dir(tmp_path) / "dir.jsonl").mkdir()
    bad = []
    assert len(list(iter_records(tmp_path, bad))) == 2
    assert len(bad) == 1 and str(bad[0]).endswith("dir.jsonl: cannot read (Is a directory)")


# a valid record's JSON with one value replaced anywhere in it
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


RICH = record("rich", samples=[1.0, 2.0, 3.0], accuracy=0.9, variant="variants/v", sparsity=0.5)
RICH_PATHS = [p for p in _paths(RICH.to_json()) if p]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(RICH_PATHS), value=json_values, fmt=st.sampled_from(["table", "csv", "json"]))
def test_any_mutated_record_is_read_or_named_and_every_format_survives(tmp_path_factory, capsys, path, value, fmt):
    data = RICH.to_json()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    root = tmp_path_factory.mktemp("mutated")
    directory = runs_dir(root)
    directory.mkdir(parents=True)
    (directory / "m.jsonl").write_text(json.dumps(GOOD.to_json()) + "\n" + json.dumps(data) + "\n")
    code = main(["results", "--results", str(root), "--format", fmt])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err
    assert all(ln.startswith("harness: warning: skipped ") and ":2: " in ln for ln in err.splitlines())
    if fmt == "json":
        ids = [r["record_id"] for r in json.loads(out)]
        assert ids[0] == "good" and len(ids) == 2 - len(err.splitlines())


def test_non_finite_statistics_are_stored_as_null_with_a_reason(tmp_path):
    latency = LatencyStats(n=10, p50=math.nan, p90=1.0, p99=math.inf, mean=1.0)
    rec = GOOD.replace(metrics=GOOD.metrics.replace(latency_ms=latency, throughput_per_s=math.inf))
    data = json.loads(encode_line(rec))
    assert data["metrics"]["latency_ms"]["p50"] is None and data["metrics"]["throughput_per_s"] is None
    assert data["reason"] == ("not finite, stored as null: metrics.latency_ms.p50 (nan), metrics.latency_ms.p99 (inf), "
                              "metrics.throughput_per_s (inf)")
    assert append_or_rescue(rec, tmp_path) is None
    [back] = load_records(tmp_path)
    assert back.metrics.throughput_per_s is None and back.latency.p99 is None and back.reason == data["reason"]
    failed = GOOD.replace(status="error", reason="boom", samples_ms=(1.0, math.nan, math.nan, math.nan, -math.inf))
    assert json.loads(encode_line(failed))["reason"] == ("boom; not finite, stored as null: samples_ms[1] (nan), "
                                                         "samples_ms[2] (nan), samples_ms[3] (nan) and 1 more")


@pytest.fixture
def quick_bench(monkeypatch, tmp_path):
    """`harness bench` whose measuring returns a made-up record at once (the store is what is tested)."""
    import harness.measure.bench

    made = []

    def fake_measure(cfg, **kwargs):
        rec = record(f"m{len(made)}", model=cfg.model, backend=cfg.backend, machine_id="m1")
        made.append(rec)
        return rec

    monkeypatch.setattr(harness.measure.bench, "measure", fake_measure)
    monkeypatch.setenv("HARNESS_RESCUE_DIR", str(tmp_path / "rescue"))
    return made


def test_a_record_the_store_cannot_take_is_rescued_and_named(tmp_path, quick_bench, capsys):
    import harness.measure.bench

    results = tmp_path / "results"
    original = harness.measure.bench.measure

    def measure_then_break_the_store(cfg, **kwargs):  # the store goes away while the worker measures
        rec = original(cfg, **kwargs)
        if not (results / "runs").is_file():
            (results / "runs").mkdir(parents=True, exist_ok=True)
            (results / "runs").rename(tmp_path / "gone")
            (results / "runs").write_text("now a file\n")
        return rec

    harness.measure.bench.measure = measure_then_break_the_store
    code = main(["bench", "--model", "bert-tiny", "--backend", "torch,onnxruntime", "--results", str(results), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    rescued = tmp_path / "rescue" / "runs" / "m1.jsonl"
    assert err[-1] == (f"harness: error: 2 measured record(s) could not be written to {results / 'runs' / 'm1.jsonl'} "
                       f"(File exists); they are saved in {rescued} (`harness results --results {tmp_path / 'rescue'}` "
                       f"reads them; append the file to the store once it can be written)")
    assert [r["record_id"] for r in complete_json_lines(rescued.parent)] == ["m0", "m1"]
    assert [r.record_id for r in load_records(tmp_path / "rescue")] == ["m0", "m1"]


def test_a_record_nothing_can_take_is_printed_whole(tmp_path, quick_bench, monkeypatch, capsys):
    import harness.results.store

    def refuse(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(harness.results.store, "append_line", refuse)
    code = main(["bench", "--model", "bert-tiny", "--backend", "torch", "--results", str(tmp_path / "r"), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "(No space left on device); it is printed above" in err
    assert json.loads(out.strip().splitlines()[-1])["record_id"] == "m0"


def test_rescue_never_writes_over_the_store_it_rescues(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_RESCUE_DIR", str(tmp_path / "rescue"))
    (tmp_path / "runs").write_text("a file where the runs directory should be\n")
    saved = append_or_rescue(GOOD, tmp_path)
    assert saved.path == tmp_path / "rescue" / "runs" / "m1.jsonl" and saved.problem == "File exists"
    assert (tmp_path / "runs").read_text() == "a file where the runs directory should be\n"
