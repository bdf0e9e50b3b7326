"""The default job's path end to end on tiny models: dense matrix, pruned variant, sparse kernels,
summary and cost reports."""

import csv

from harness.demo import run_demo
from harness.store import load_records

QUICK = """\
models: [bert-tiny]
backends: [torch, onnxruntime, openvino]
threads: [1]
batch_sizes: [1]
seq_lens: [16]
instance_type: c7a.large
settings: {min_duration_s: 0.05, min_iters: 5, warmup_iters: 1, warmup_s: 0.0}
"""


def test_demo_path_goes_from_models_to_a_cost_answer(tmp_path, capsys):
    matrix = tmp_path / "demo.yaml"
    matrix.write_text(QUICK)
    results = tmp_path / "results"
    code = run_demo(matrix_path=matrix, root=results, progress=False, pruned_model="bert-tiny")
    assert code == 0
    records = [r.to_json() for r in load_records(results)]
    variants = {r["config"]["variant_name"] for r in records}
    assert variants == {"dense", "bert-tiny-magnitude-90"}
    pruned = [r for r in records if r["config"]["variant_name"] != "dense"]
    assert {r["config"]["backend"] for r in pruned} >= {"torch", "onnxruntime", "openvino"}
    assert all(abs(r["config"]["sparsity"] - 0.9) < 0.005 for r in pruned)
    assert any(r["effective"]["kernel"] == "sparse-csr" for r in pruned if r["status"] == "ok")
    out = capsys.readouterr().out
    assert "p50_ms" in out and "cost report:" in out
    rows = list(csv.DictReader(line for line in open(results / "reports" / "demo" / "cost.csv") if not line.startswith("#")))
    mapped = [r for r in rows if r["instance"] == "c7a.large" and r["usd_per_million"]]
    assert mapped and all(float(r["usd_per_hour"]) == 0.10264 for r in mapped)
    assert (results / "reports" / "seed" / "cost.html").is_file()
    # a second run measures nothing new for this commit and still reports every configuration
    assert run_demo(matrix_path=matrix, root=results, progress=False, pruned_model="bert-tiny") == 0
    assert len(load_records(results)) == len(records)
