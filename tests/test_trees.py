"""Decision trees under minimal cost-complexity pruning: the path, the CV choice, tree variants on disk,
the ONNX route, and records from the runner on both backends (sklearn, onnxruntime)."""

import json
from pathlib import Path

import numpy as np
import pytest

from harness.export.trees import write_onnx
from harness.foundation.errors import ConfigError, HarnessError
from harness.models.registry import MODELS, model_family
from harness.models.tree_data import DATASETS, estimator_from_arrays, fit_tree, load_split, load_tree_file, tree_arrays
from harness.variants.trees import TREE_FILE, load_tree_variant, save_tree_variant, tree_variant_id
from harness.workflows.trees.report import table_rows
from harness.workflows.trees.sweep import choose_alpha, pruning_path, sweep, variant_manifest
from tests.helpers.records import record

# breast cancer, seed 0 (stratified 75/25 split: 426 train, 143 test rows), scikit-learn 1.9.1:
# full tree 18 leaves, depth 5, test accuracy 129/143; 16 distinct alphas; 5-fold CV picks path
# position 10, alpha 0.0069864, 6 leaves, depth 3, test accuracy 132/143.
BC_FULL_TEST, BC_CHOSEN_TEST = 129 / 143, 132 / 143


@pytest.fixture(scope="module")
def bc():
    split = load_split("breast_cancer", 0)
    result, trees = sweep(split)
    return split, result, trees


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_path_alphas_increase_from_zero_and_leaves_never_increase(dataset):
    split = load_split(dataset, 0)
    full = fit_tree(split)
    alphas, impurities, entries = pruning_path(full, split)
    assert alphas[0] == 0.0 and len(alphas) <= entries
    assert all(b > a for a, b in zip(alphas, alphas[1:]))
    assert all(b >= a for a, b in zip(impurities, impurities[1:]))  # pruning never lowers training impurity
    probe = alphas if len(alphas) <= 20 else alphas[:: len(alphas) // 20] + [alphas[-1]]
    leaves = [fit_tree(split, a).get_n_leaves() for a in probe]
    assert leaves[0] == full.get_n_leaves() and leaves[-1] == 1
    assert all(b < a for a, b in zip(leaves, leaves[1:]))  # distinct alphas: strictly fewer leaves


def test_breast_cancer_sweep_known_figures(bc):
    split, result, trees = bc
    assert (result.n_train, result.n_test, result.n_features, len(result.rows)) == (426, 143, 30, 16)
    full, chosen = result.full, result.chosen
    assert (full.leaves, full.depth, full.nodes, full.train_score) == (18, 5, 35, 1.0)
    assert full.test_score == pytest.approx(BC_FULL_TEST, abs=1e-12)
    assert result.chosen_index == 10 and chosen.alpha == pytest.approx(0.0069864, rel=1e-4)
    assert (chosen.leaves, chosen.depth, chosen.nodes) == (6, 3, 11)
    assert chosen.test_score == pytest.approx(BC_CHOSEN_TEST, abs=1e-12)
    assert chosen.test_score >= full.test_score  # the seed article's claim, on a fixed split
    assert all(r.nodes == 2 * r.leaves - 1 for r in result.rows)  # binary trees
    assert result.rows[-1].leaves == 1 and result.rows[-1].decisions_per_item == 0.0
    assert [t.get_n_leaves() for t in trees] == [r.leaves for r in result.rows]


def test_choose_alpha_takes_the_best_cv_score_and_breaks_ties_towards_the_smaller_tree():
    assert choose_alpha([0.90, 0.93, 0.93, 0.92]) == 2
    assert choose_alpha([0.95, 0.93]) == 0
    assert choose_alpha([0.5]) == 0
    with pytest.raises(HarnessError):
        choose_alpha([])


@pytest.mark.parametrize("dataset", ["breast_cancer", "diabetes"])
def test_tree_arrays_rebuild_the_same_predictor_without_pickle(dataset, tmp_path):
    split = load_split(dataset, 0)
    tree = fit_tree(split, 0.0)
    arrays = tree_arrays(tree)
    assert all(a.dtype != object for a in arrays.values())
    np.savez(tmp_path / "t.npz", **arrays)
    rebuilt = estimator_from_arrays(load_tree_file(tmp_path / "t.npz"))  # allow_pickle=False inside
    assert type(rebuilt) is type(tree)
    method = "predict_proba" if dataset != "diabetes" else "predict"
    assert np.array_equal(getattr(rebuilt, method)(split.X_test), getattr(tree, method)(split.X_test))
    assert np.array_equal(rebuilt.predict(split.X_train), tree.predict(split.X_train))


def test_tree_file_with_bad_indices_is_refused(tmp_path):
    split = load_split("wine", 0)
    arrays = tree_arrays(fit_tree(split))
    arrays["node_left_child"] = arrays["node_left_child"].copy()
    arrays["node_left_child"][0] = 999
    with pytest.raises(HarnessError, match="out of range"):
        estimator_from_arrays(arrays)
    del arrays["value"]
    with pytest.raises(HarnessError, match="lack value"):
        estimator_from_arrays(arrays)


def test_tree_variant_round_trip_and_stable_id(bc, tmp_path):
    split, result, trees = bc
    i = result.chosen_index
    manifest = variant_manifest(result, i, model_name="tree-breast_cancer")
    a = save_tree_variant(trees[i], manifest, tmp_path / "a")
    b = save_tree_variant(trees[i], manifest | {"created_at": "2000-01-01T00:00:00+00:00"}, tmp_path / "b")
    other = save_tree_variant(trees[i + 1], variant_manifest(result, i + 1, model_name="tree-breast_cancer"), tmp_path / "c")
    assert tree_variant_id(a) == tree_variant_id(b) != tree_variant_id(other)
    v = load_tree_variant(a)
    m = v.manifest
    assert (m.kind, m.schema_version, m.model, m.dataset, m.chosen) == (
        "harness-tree-variant", 1, "tree-breast_cancer", "breast_cancer", True)
    assert (m.leaves, m.depth, m.nodes, m.full_nodes) == (6, 3, 11, 35)
    assert m.realised_sparsity.overall == pytest.approx(1 - 11 / 35)
    assert m.quality["accuracy"] == pytest.approx(BC_CHOSEN_TEST)
    assert np.array_equal(v.estimator.predict_proba(split.X_test), trees[i].predict_proba(split.X_test))
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "manifest.json").write_text(json.dumps({"kind": "harness-variant", "schema_version": 1}))
    with pytest.raises(HarnessError, match="expected 'harness-tree-variant'"):
        load_tree_variant(tmp_path / "torch")
    with pytest.raises(HarnessError, match="exists and is not a tree variant directory"):
        save_tree_variant(trees[i], manifest, tmp_path / "torch")


@pytest.mark.parametrize("dataset,output", [("digits", "probabilities"), ("diabetes", "variable")])
def test_onnx_conversion_keeps_one_output_equal_to_sklearn(dataset, output, tmp_path):
    import onnxruntime as ort

    split = load_split(dataset, 0)
    tree = fit_tree(split)
    path = write_onnx(tree, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == [output]
    got = session.run(None, {"features": split.X_test})[0]
    want = tree.predict_proba(split.X_test) if output == "probabilities" else tree.predict(split.X_test)[:, None]
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 1e-5 * max(1.0, float(np.max(np.abs(want))))


def test_tree_families_in_the_zoo():
    for dataset, spec in DATASETS.items():
        family = model_family(f"tree-{dataset}")
        assert f"tree-{dataset}" in MODELS and family.framework == "sklearn" and family.kind == "tabular"
        assert family.default_seq_len == spec.n_features == load_split(dataset, 0).X_train.shape[1]
    family = model_family("tree-wine")
    model = family.build()
    assert model.n_features_in_ == 13 and model.get_n_leaves() == 7
    assert family.flops(model, 1) is None and family.prunable_layers(model) == {}
    inputs = family.example_inputs(200)
    assert inputs["features"].shape == (200, 13) and inputs["features"].dtype == np.float32
    assert np.array_equal(inputs["features"][:45], inputs["features"][45:90])  # cycles the 45 test rows
    with pytest.raises(ConfigError, match="seq_len: tree-wine takes 13 features"):
        family.example_inputs(1, seq_len=128)
    assert model_family("bert-tiny").framework == "torch"


def test_wrong_seq_len_or_a_checkpoint_becomes_an_error_record(results_dir):
    from harness.contracts import BenchConfig
    from harness.measure.bench import measure as run_config

    rec = run_config(BenchConfig(model="tree-wine", backend="sklearn", seq_len=128), calibrate=False)
    assert rec.status == "error" and "seq_len: tree-wine takes 13 features" in rec.reason
    rec = run_config(BenchConfig(model="tree-wine", backend="sklearn", seq_len=13, checkpoint="/x"), calibrate=False)
    assert rec.status == "error" and rec.reason.startswith("checkpoint: tree-wine is a scikit-learn tree")


def test_runner_records_for_a_tree_variant_on_both_backends(bc, tmp_path, results_dir, quick_settings):
    from harness.contracts import BenchConfig
    from harness.measure.bench import run_configs
    from harness.results.store import load_records

    split, result, trees = bc
    i = result.chosen_index
    vdir = str(save_tree_variant(trees[i], variant_manifest(result, i, model_name="tree-breast_cancer"), tmp_path / "v"))
    configs = [BenchConfig(model="tree-breast_cancer", backend=b, batch_size=1024, seq_len=30, variant=vdir,
                           settings=quick_settings) for b in ("sklearn", "onnxruntime")]
    records = [r.to_json() for r in run_configs(configs, root=results_dir, progress=False, calibrate=False, echo=False)]
    assert [r["status"] for r in records] == ["ok", "ok"], [r.get("reason") for r in records]
    assert len(load_records(results_dir)) == 2
    vid = tree_variant_id(vdir)
    for r, backend in zip(records, ("sklearn", "onnxruntime")):
        cfg, met, eff = r["config"], r["metrics"], r["effective"]
        assert (cfg["model"], cfg["backend"], cfg["batch_size"], cfg["variant_id"]) == ("tree-breast_cancer", backend, 1024, vid)
        assert (cfg["method"], cfg["structure"], cfg["variant_name"]) == ("cost-complexity", "subtree", "v")
        assert cfg["sparsity"] == pytest.approx(1 - 11 / 35)
        assert met["manifest_quality"]["accuracy"] == pytest.approx(BC_CHOSEN_TEST)
        assert met["manifest_quality"]["source"] == "manifest" and met["quality"] is None
        assert met["flops_per_inference"] is None and met["gflops_per_s"] is None
        assert met["parity"]["ok"] and met["parity"]["top1_agreement"] == 1.0
        assert met["latency_ms"]["n"] >= 5 and len(r["samples_ms"]) == met["latency_ms"]["n"]
        assert eff["precision"] == "fp32" and eff["threads"] == 1
    sk, ox = records
    # sklearn's own predict_proba is the reference; the ONNX TreeEnsemble output matches it
    assert sk["metrics"]["parity"]["max_abs_diff"] == 0.0
    assert ox["metrics"]["parity"]["max_abs_diff"] <= 1e-6
    assert sk["metrics"]["artifact_bytes"] == (Path(vdir) / TREE_FILE).stat().st_size
    assert 0 < ox["metrics"]["artifact_bytes"] < sk["metrics"]["artifact_bytes"]
    assert sk["effective"]["engine"]["method"] == "predict_proba" and sk["effective"]["engine"]["node_count"] == 11
    assert sk["effective"]["backend_version"] == "1.9.1"


def test_table_rows_join_records_to_alphas(bc):
    _, result, _ = bc
    def rec(variant, backend, batch, p50, size, status="ok"):
        return record(variant=variant, backend=backend, batch=batch, p50=p50, p99=None, artifact_bytes=size,
                      status=status)
    records = [rec("v0", "sklearn", 1, 0.06, 500), rec("v0", "sklearn", 1, 0.08, 500), rec("v0", "sklearn", 1, 0.07, 500),
               rec("v0", "onnxruntime", 1, 0.003, 200), rec("v10", "onnxruntime", 1, None, None, status="timeout")]
    rows = table_rows(result, {0: "v0", 10: "v10"}, records, ("sklearn", "onnxruntime"), (1,))
    assert len(rows) == 16 and rows[10]["chosen"] and not rows[0]["chosen"]
    assert (rows[0]["sklearn_b1_p50_ms"], rows[0]["sklearn_bytes"]) == (0.07, 500)  # median of the repeats
    assert (rows[0]["onnxruntime_b1_p50_ms"], rows[0]["onnxruntime_bytes"]) == (0.003, 200)
    assert rows[10]["onnxruntime_b1_p50_ms"] is None and rows[10]["onnxruntime_b1_status"] == "timeout"
    assert rows[5]["variant"] is None and rows[5]["sklearn_b1_p50_ms"] is None


def test_trees_command_writes_report_csv_and_png(tmp_path, results_dir, capsys):
    import csv

    from harness.cli import main

    out = tmp_path / "report"
    assert main(["trees", "--dataset", "wine", "--out", str(out), "--no-bench", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "wine: 7 alphas; full tree 7 leaves" in text
    rows = list(csv.DictReader(open(out / "trees-wine.csv")))
    assert [int(r["leaves"]) for r in rows] == [7, 6, 5, 4, 3, 2, 1]
    assert sum(r["chosen"] == "True" for r in rows) == 1
    md = (out / "trees-wine.md").read_text()
    assert "# Minimal cost-complexity pruning: wine" in md and "![accuracy and latency against alpha](trees-wine.png)" in md
    assert md.count("\n| ") == 1 + 7  # header + one row per alpha
    assert (out / "trees-wine.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    variants = sorted(p.name for p in (out / "trees-wine-variants").iterdir())
    assert variants[0] == "alpha-000" and variants[-1] == "alpha-006"
    assert not (results_dir / "runs").exists()  # --no-bench: nothing measured, nothing stored


def test_trees_command_refuses_bad_options(tmp_path, capsys):
    from harness.cli import main

    assert main(["trees", "--dataset", "wine", "--out", str(tmp_path), "--max-variants", "0"]) == 2
    assert "--max-variants: expected a positive integer, got 0" in capsys.readouterr().err
    assert main(["trees", "--dataset", "wine", "--out", str(tmp_path), "--backend", "torch", "--quiet"]) == 2
    assert "unknown backend for trees 'torch'; valid choices: sklearn, onnxruntime" in capsys.readouterr().err
