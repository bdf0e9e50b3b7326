"""The issue's benchmark script runs end to end in --quick mode and writes its JSON and Markdown."""

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench_module():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import prune_minilm_sst2

        yield prune_minilm_sst2
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


def test_quick_mode_writes_results(tmp_path, bench_module):
    import torch

    before = torch.get_num_threads()
    try:
        code = bench_module.main(["--quick", "--out", str(tmp_path), "--no-progress", "--threads", "1"])
    finally:
        torch.set_num_threads(before)
    assert code == 0
    result = json.loads((tmp_path / "prune_minilm_sst2.json").read_text())
    assert result["schema_version"] == 2 and result["settings"]["model"] == "minilm-tiny"
    assert {(r["method"], r["sparsity"]) for r in result["oneshot"]} == {
        (m, s) for m in ("magnitude", "movement", "second-order") for s in (0.5, 0.8)}
    for row in result["oneshot"] + result["recovery"] + result["layers"] + result["bert_base"]:
        assert abs(row["realised"] - row["sparsity"]) <= 0.005
        assert row["prune_wall_time_s"] >= 0 and row["peak_rss_bytes"] > 0
    assert [(r["method"], r["variant"]) for r in result["recovery"]] == [
        ("magnitude", None), ("movement", "hard"), ("movement", "soft"), ("second-order", None)]
    hard = result["recovery"][1]
    assert "gradual hard movement" in hard["regime"] and hard["train_steps"] == 2 + 2 + 2  # warm-up, cubic, cool-down
    assert len(hard["history"]) == 7  # masks recomputed at every step
    layers, compound = result["layers"]
    assert layers["stages"][0]["layers_kept"] == [0] and layers["weights_vs_dense"] == 0.5
    assert [s["structure"] for s in compound["stages"]] == ["layers", "unstructured"] and compound["sparsity"] == 0.8
    assert abs(compound["weights_vs_dense"] - 0.9) <= 0.005
    so = next(r for r in result["bert_base"] if r["method"] == "second-order")
    assert so["layer_groups"] > 1  # the memory budget split the layers into groups
    assert all(c["ok"] for c in result["checks"])
    md = (tmp_path / "prune_minilm_sst2.md").read_text()
    assert "## One-shot (no retraining), global unstructured" in md and "| second-order | 0.80 |" in md
    assert "| movement (soft) |" in md and "## Layer dropping, with recovery" in md


def test_full_mode_needs_data(tmp_path, bench_module, monkeypatch, capsys):
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    assert bench_module.main(["--out", str(tmp_path)]) == 2
    assert "needs SST-2: pass --data DIR" in capsys.readouterr().err
