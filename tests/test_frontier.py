"""The speed/quality frontier: the Pareto rule with known answers, and the benchmark script end to end at tiny size
(dense, int8, a layer-dropped and a second-order variant on ONNX Runtime; agreement with the dense model, no data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.workflows.frontier import FrontierRow, mark_pareto

REPO = Path(__file__).resolve().parents[1]


def _row(variant, speedup, quality):
    return FrontierRow(variant=variant, chain="", engine="onnxruntime", precision="fp32", kernel="dense", status="ok",
                       p50_ms=1.0, speedup=speedup, speedup_ci95=None, quality=quality, quality_ci95=None,
                       quality_metric="accuracy")


def test_the_pareto_front_keeps_exactly_the_rows_nothing_beats_on_both():
    rows = mark_pareto([_row("dense", 1.0, 0.90), _row("a", 2.0, 0.89), _row("b", 1.5, 0.85),  # b: beaten by a
                        _row("c", 4.0, 0.80), _row("d", 4.0, 0.80), _row("e", 3.0, 0.70),       # c, d: ties stay
                        _row("f", None, 0.95)])                                                 # f: no speed-up
    assert {r.variant for r in rows if r.pareto} == {"dense", "a", "c", "d"}


def _beaten(row: dict, rows: list[dict]) -> bool:
    """Whether another row is at least as fast and as good, and better on one (the Pareto rule, restated)."""
    return any(o["speedup"] >= row["speedup"] and o["quality"] >= row["quality"]
               and (o["speedup"], o["quality"]) != (row["speedup"], row["quality"]) for o in rows if o is not row)


def test_the_quick_frontier_script_end_to_end(tmp_path):
    """README's `benchmarks/frontier.py --model bert-base --out DIR` at tiny size (tests/docs_commands.py counts on
    this test for it): --quick runs dense, int8, a layer-dropped and a second-order variant on ONNX Runtime, with
    agreement with the dense model as the quality (no data)."""
    import runpy

    main = runpy.run_path(str(REPO / "benchmarks" / "frontier.py"))["main"]
    assert main(["--model", "bert-tiny", "--quick", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "frontier.json").read_text())
    rows = saved["rows"]
    by = {(r["variant"], r["precision"]): r for r in rows}
    assert all(r["status"] == "ok" for r in rows), [(r["variant"], r["precision"], r["status"]) for r in rows]
    assert {v for v, _ in by} == {"dense", "bert-tiny-layers-50-kd", "bert-tiny-obert-80-oneshot"}
    assert {p for _, p in by} == {"fp32", "int8"} and {r["engine"] for r in rows} == {"onnxruntime"}
    dense = by[("dense", "fp32")]
    # the dense fp32 row is its own baseline; ONNX Runtime fp32 agrees with torch fp32 up to near-ties
    assert dense["speedup"] == pytest.approx(1.0) and dense["quality"] >= 0.9 and dense["quality_metric"] == "agreement"
    assert all(r["quality_metric"] == "agreement" for r in rows)
    # the front marked in the file is exactly the rows nothing beats, and the fastest row is on it
    assert [r["pareto"] for r in rows] == [not _beaten(r, rows) for r in rows]
    assert max(rows, key=lambda r: (r["speedup"], r["quality"]))["pareto"]
    md = (tmp_path / "frontier.md").read_text()
    assert md.count("| * |") == sum(r["pareto"] for r in rows) and "Pareto" in md
    assert (tmp_path / "frontier.png").stat().st_size > 1000
