"""The speed/quality frontier: the Pareto rule with known answers, and one tiny end-to-end run (dense, int8, a
layer-dropped and a second-order variant on ONNX Runtime; agreement with the dense model, no data)."""

from __future__ import annotations

import json

import pytest

from harness.contracts import Settings
from harness.workflows.frontier import FrontierRow, frontier_plan, mark_pareto, run_frontier


def _row(variant, speedup, quality):
    return FrontierRow(variant=variant, chain="", engine="onnxruntime", precision="fp32", kernel="dense", status="ok",
                       p50_ms=1.0, speedup=speedup, speedup_ci95=None, quality=quality, quality_ci95=None,
                       quality_metric="accuracy")


def test_the_pareto_front_keeps_exactly_the_rows_nothing_beats_on_both():
    rows = mark_pareto([_row("dense", 1.0, 0.90), _row("a", 2.0, 0.89), _row("b", 1.5, 0.85),  # b: beaten by a
                        _row("c", 4.0, 0.80), _row("d", 4.0, 0.80), _row("e", 3.0, 0.70),       # c, d: ties stay
                        _row("f", None, 0.95)])                                                 # f: no speed-up
    assert {r.variant for r in rows if r.pareto} == {"dense", "a", "c", "d"}


def test_a_tiny_frontier_end_to_end(tmp_path):
    quick = Settings(warmup_iters=1, warmup_s=0.0, min_iters=5, min_duration_s=0.05, percentile_target=None,
                     calibration_examples=8)
    plan = frontier_plan("bert-tiny", None, engines=("onnxruntime",), variants=("layers-50-kd", "obert-80-oneshot"),
                         scale=0.02, eval_limit=32, settings=quick)
    rows = run_frontier(plan, out_dir=tmp_path, repeats=1, progress=False, echo=lambda m: None)
    by = {(r.variant, r.precision): r for r in rows}
    assert all(r.status == "ok" for r in rows), [(r.variant, r.precision, r.status) for r in rows]
    assert {v for v, _ in by} == {"dense", "bert-tiny-layers-50-kd", "bert-tiny-obert-80-oneshot"}
    assert {p for _, p in by} == {"fp32", "int8"}
    dense = by[("dense", "fp32")]
    # the dense fp32 row is its own baseline; ONNX Runtime fp32 agrees with torch fp32 up to near-ties
    assert dense.speedup == pytest.approx(1.0) and dense.quality >= 0.9 and dense.quality_metric == "agreement"
    assert all(r.quality_metric == "agreement" and 0.0 <= r.quality <= 1.0 for r in rows)
    assert any(r.pareto for r in rows)
    saved = json.loads((tmp_path / "frontier.json").read_text())
    assert len(saved["rows"]) == len(rows)
    assert (tmp_path / "frontier.png").stat().st_size > 1000 and "Pareto" in (tmp_path / "frontier.md").read_text()
