"""Decision trees through the export stage: the skl2onnx conversion and the tree artifact a worker runs."""

from __future__ import annotations

import json
from pathlib import Path

from harness.contracts import Artifact, BenchConfig, TreeArtifactMeta
from harness.foundation.errors import ConfigError, HarnessError
from harness.foundation.fsutil import atomic_write_bytes, atomic_write_text
from harness.models.tree_data import (
    arrays_hash,
    estimator_from_arrays,
    fit_tree,
    load_split,
    load_tree_file,
    mean_decisions,
    model_inputs,
    output_name,
    predict_output,
    save_npz,
    tree_arrays,
)
from harness.variants.trees import TREE_FILE, read_tree_manifest, variant_id_of

ONNX_OPSETS = {"": 17, "ai.onnx.ml": 3}


def write_onnx(estimator, path, input_name: str = "features") -> Path:
    """Convert with skl2onnx (TreeEnsemble operators, dynamic batch) and keep one output, atomically.

    Classifiers are converted without ZipMap, and the class-label output is dropped, so the graph's
    only output is the probability matrix compared with predict_proba.
    """
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    path = Path(path)
    classifier = hasattr(estimator, "predict_proba")
    options = {id(estimator): {"zipmap": False}} if classifier else None
    try:
        onx = convert_sklearn(estimator, initial_types=[(input_name, FloatTensorType([None, estimator.n_features_in_]))],
                              options=options, target_opset=ONNX_OPSETS)
    except Exception as exc:  # skl2onnx raises many types; one line names the tree and the cause
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"skl2onnx could not convert the {type(estimator).__name__}: {first}") from exc
    want = output_name("classification" if classifier else "regression")
    keep = [o for o in onx.graph.output if o.name == want]
    if len(keep) != 1:
        raise HarnessError(f"skl2onnx graph has outputs {[o.name for o in onx.graph.output]}, expected one named {want!r}")
    del onx.graph.output[:]
    onx.graph.output.extend(keep)
    atomic_write_bytes(path, onx.SerializeToString())
    return path


def prepare_tree_artifact(config: BenchConfig, family, directory, *, needs_onnx: bool) -> Artifact:
    """Make (or reuse) what a worker needs for a tree configuration under the artifact cache `directory`.

    Layout: <directory>/<model>-<variant id | dense-<tree hash>>/
        tree.npz (the tree's arrays), model.onnx (when needs_onnx), meta.json,
        io-b{B}.npz ("input:features" test rows + "reference", sklearn's predict_proba or predict as
        float32). Shapes are dynamic in the ONNX graph. FLOPs are not counted for trees.
    """
    family.check_features(config.seq_len)
    if config.checkpoint:
        raise ConfigError(f"checkpoint: {family.name} is a scikit-learn tree with no Hugging Face checkpoint, "
                          f"got {config.checkpoint!r}; give a pruned tree as --variant DIR (from `harness trees`)")
    if config.variant:
        manifest, typed = read_tree_manifest(config.variant)
        if typed.model != family.name:
            raise HarnessError(f"tree variant {config.variant!r} was made for {typed.model!r}, not {family.name!r}")
        arrays = load_tree_file(Path(config.variant) / TREE_FILE)
        variant_id = tag = variant_id_of(manifest, arrays)
    else:
        manifest, variant_id = None, None
        arrays = tree_arrays(fit_tree(load_split(family.dataset, 0)))
        tag = f"dense-{arrays_hash(arrays)[:16]}"
    sub = Path(directory) / f"{family.name}-{tag}"
    sub.mkdir(parents=True, exist_ok=True)
    tree_path, onnx_path = sub / TREE_FILE, sub / "model.onnx"
    io_path, meta_path = sub / f"io-b{config.batch_size}.npz", sub / "meta.json"
    estimator = estimator_from_arrays(arrays)
    if not tree_path.exists():
        save_npz(arrays, tree_path)
    if needs_onnx and not onnx_path.exists():
        write_onnx(estimator, onnx_path, family.input_names[0])
    if not io_path.exists():
        features = model_inputs(load_split(family.dataset, 0), config.batch_size, seed=0)
        save_npz({"input:features": features, "reference": predict_output(estimator, features)}, io_path)
    if not meta_path.exists():
        meta = TreeArtifactMeta(
            tree_bytes=tree_path.stat().st_size,
            nodes=int(estimator.tree_.node_count),
            leaves=int(estimator.get_n_leaves()),
            depth=int(estimator.get_depth()),
            mean_decisions_per_item=mean_decisions(estimator, load_split(family.dataset, 0).X_test),
        )
        atomic_write_text(meta_path, json.dumps(meta.to_json()))
    meta = TreeArtifactMeta.from_json(json.loads(meta_path.read_text()), str(meta_path))
    return Artifact(
        dir=str(sub), io_path=str(io_path), input_names=tuple(family.input_names), framework=family.framework,
        variant_id=variant_id, variant_manifest=manifest, tree_path=str(tree_path),
        onnx_path=str(onnx_path) if needs_onnx else None,
        artifact_bytes=onnx_path.stat().st_size if needs_onnx else meta.tree_bytes, extra=meta.facts(),
    )
