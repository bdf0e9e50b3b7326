"""CART decision trees under minimal cost-complexity pruning, measured like the neural models.

What this module does, in order:
  data      load_split(): a scikit-learn bundled data set (no download), split train/test with a seed
  sweep     sweep(): the full tree, its cost-complexity path (the alphas at which the weakest link is
            pruned), one pruned tree per alpha with train/test score, cross-validated score,
            leaves/depth/nodes, and the alpha chosen by cross-validation (choose_alpha)
  variants  save_tree_variant()/load_tree_variant(): a pruned tree on disk (tree.npz + manifest.json)
  export    write_onnx(): the skl2onnx conversion (TreeEnsemble operators) for ONNX Runtime
  report    run_trees(): writes a variant per benchmarked alpha, measures them through the runner and
            store (backends "sklearn" and "onnxruntime", batch 1 and 1024), and writes
            trees-<dataset>.csv/.md/.png

A tree is stored as its arrays, never pickled: tree.npz holds the node arrays of sklearn's Tree
(children, feature, threshold, impurity, sample counts, missing-value direction) and the leaf values,
read back with allow_pickle=False and rebuilt into a real DecisionTreeClassifier/Regressor through
Tree.__setstate__, fed from those arrays. That state dict is what sklearn's own pickling uses, a
private interface: it is pinned with scikit-learn 1.9.1 and a round-trip test checks that the rebuilt
tree predicts exactly what the original did.

TREE_VARIANT_SCHEMA_VERSION history (manifest.json of a tree variant):
  1 - first version: schema_version, kind="harness-tree-variant", model, dataset, task, metric, seed,
      split, alpha, alpha_index, path_length, path_entries, chosen, leaves, depth, nodes, full_nodes,
      realised_sparsity {overall: fraction of the full tree's nodes pruned away},
      mean_decisions_per_item, metrics {train, test, cv, cv_std}, quality, method, structure,
      model_file, sklearn_version, created_at, harness_version.

Imports at module level are the standard library and numpy only: the sklearn worker imports this
module to rebuild a tree, and scikit-learn, skl2onnx and matplotlib are loaded only where used.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .errors import ConfigError, HarnessError, choices_error
from .fsutil import atomic_write_dir

TREE_VARIANT_SCHEMA_VERSION = 1
READABLE_TREE_VARIANT_VERSIONS = (1,)
TREE_VARIANT_KIND = "harness-tree-variant"
TREE_FILE = "tree.npz"
MANIFEST_FILE = "manifest.json"
TEST_SIZE = 0.25
CV_FOLDS = 5
ONNX_OPSETS = {"": 17, "ai.onnx.ml": 3}
TREE_BACKENDS = ("sklearn", "onnxruntime")
TREE_BATCH_SIZES = (1, 1024)
# manifest keys left out of the variant id: the same tree written twice keeps its id
_VOLATILE_KEYS = ("created_at", "harness_version")


@dataclass(frozen=True)
class DatasetSpec:
    """A data set bundled with scikit-learn and what a tree does with it."""

    name: str
    loader: str  # sklearn.datasets function name
    task: str  # "classification" or "regression"
    n_features: int
    n_classes: int  # 1 for regression

    @property
    def metric(self) -> str:
        return "accuracy" if self.task == "classification" else "r2"


DATASETS = {
    "breast_cancer": DatasetSpec("breast_cancer", "load_breast_cancer", "classification", 30, 2),
    "digits": DatasetSpec("digits", "load_digits", "classification", 64, 10),
    "wine": DatasetSpec("wine", "load_wine", "classification", 13, 3),
    "diabetes": DatasetSpec("diabetes", "load_diabetes", "regression", 10, 1),
}


def dataset_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise choices_error("dataset", name, DATASETS)
    return DATASETS[name]


# -- data ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    """Train and test rows of one data set (features as float32, the precision trees compare in)."""

    dataset: str
    task: str
    seed: int
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def load_split(dataset: str, seed: int = 0, test_size: float = TEST_SIZE) -> Split:
    """The bundled data set, split with `seed` (stratified by class for classification)."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    spec = dataset_spec(dataset)
    X, y = getattr(datasets, spec.loader)(return_X_y=True)
    X = np.ascontiguousarray(X, dtype=np.float32)
    stratify = y if spec.task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=stratify)
    return Split(dataset, spec.task, seed, X_train, X_test, y_train, y_test)


def make_estimator(task: str, seed: int, alpha: float = 0.0):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
    return cls(random_state=seed, ccp_alpha=float(alpha))


def fit_tree(split: Split, alpha: float = 0.0):
    """The tree grown on the training rows and pruned with `alpha` (0 = the full tree)."""
    return make_estimator(split.task, split.seed, alpha).fit(split.X_train, split.y_train)


def model_inputs(split: Split, batch_size: int, seed: int = 0) -> np.ndarray:
    """`batch_size` real test rows in a seeded order, cycling through the test set when it is smaller."""
    order = np.random.default_rng(seed).permutation(len(split.X_test))
    return np.ascontiguousarray(split.X_test[order[np.arange(batch_size) % len(order)]])


def predict_output(estimator, X: np.ndarray) -> np.ndarray:
    """What both backends are compared on: class probabilities, or the regression prediction, as float32."""
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X).astype(np.float32)
    return estimator.predict(X).astype(np.float32)


def mean_decisions(estimator, X: np.ndarray) -> float:
    """Mean number of internal nodes (threshold comparisons) one row visits on its way to a leaf."""
    visited = np.asarray(estimator.decision_path(X).sum(axis=1)).ravel()
    return float(np.mean(visited - 1))


# -- the pruning sweep -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AlphaRow:
    """One pruned tree on the cost-complexity path."""

    index: int
    alpha: float
    impurity: float  # total leaf impurity of the pruned tree on the training rows
    leaves: int
    depth: int
    nodes: int
    decisions_per_item: float  # mean comparisons per test row
    train_score: float
    test_score: float
    cv_score: float  # mean over the folds
    cv_std: float


@dataclass(frozen=True)
class PruningSweep:
    """The whole path for one data set and seed, and the alpha cross-validation chose."""

    dataset: str
    task: str
    metric: str
    seed: int
    n_train: int
    n_test: int
    n_features: int
    cv_folds: int
    path_entries: int  # entries of sklearn's path before equal alphas were merged
    rows: tuple[AlphaRow, ...]
    chosen_index: int

    @property
    def alphas(self) -> tuple[float, ...]:
        return tuple(r.alpha for r in self.rows)

    @property
    def chosen(self) -> AlphaRow:
        return self.rows[self.chosen_index]

    @property
    def full(self) -> AlphaRow:
        return self.rows[0]


def choose_alpha(cv_scores, tie_tolerance: float = 1e-12) -> int:
    """Index of the best mean cross-validated score; among equal scores the largest alpha (the
    smallest tree) wins, since the path lists alphas in increasing order."""
    scores = [float(s) for s in cv_scores]
    if not scores:
        raise HarnessError("choose_alpha: no cross-validation scores")
    best = max(scores)
    return max(i for i, s in enumerate(scores) if s >= best - tie_tolerance)


def pruning_path(full, split: Split) -> tuple[list[float], list[float], int]:
    """The distinct alphas of the full tree's cost-complexity path, increasing, with the total leaf
    impurity of the tree each one gives, and the number of entries sklearn's path had.

    sklearn lists one entry per weakest-link prune, so subtrees whose effective alpha is equal appear
    as repeated alphas; a tree fitted with that alpha prunes all of them at once, so each distinct
    alpha keeps the impurity of its last entry.
    """
    path = full.cost_complexity_pruning_path(split.X_train, split.y_train)
    alphas, impurities = [], []
    for alpha, impurity in zip(path.ccp_alphas, path.impurities):
        alpha = max(float(alpha), 0.0)  # the first alpha can be a rounding error below zero
        if alphas and alpha == alphas[-1]:
            impurities[-1] = float(impurity)
        else:
            alphas.append(alpha)
            impurities.append(float(impurity))
    return alphas, impurities, len(path.ccp_alphas)


def sweep(split: Split, cv_folds: int = CV_FOLDS, progress=None) -> tuple[PruningSweep, tuple]:
    """Fit the full tree, walk its cost-complexity path and score every pruned tree.

    Returns the sweep and the fitted trees (one per alpha, in path order). Cross-validation runs on
    the training rows only (stratified k-fold for classification, shuffled with the split's seed).
    """
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    full = fit_tree(split)
    alphas, impurities, entries = pruning_path(full, split)
    splitter = (StratifiedKFold if split.task == "classification" else KFold)(cv_folds, shuffle=True, random_state=split.seed)
    rows, trees = [], []
    for index, (alpha, impurity) in enumerate(zip(alphas, impurities)):
        tree = full if index == 0 else fit_tree(split, alpha)
        cv = cross_val_score(make_estimator(split.task, split.seed, alpha), split.X_train, split.y_train, cv=splitter)
        rows.append(AlphaRow(
            index=index, alpha=alpha, impurity=float(impurity), leaves=int(tree.get_n_leaves()),
            depth=int(tree.get_depth()), nodes=int(tree.tree_.node_count),
            decisions_per_item=mean_decisions(tree, split.X_test),
            train_score=float(tree.score(split.X_train, split.y_train)),
            test_score=float(tree.score(split.X_test, split.y_test)),
            cv_score=float(np.mean(cv)), cv_std=float(np.std(cv)),
        ))
        trees.append(tree)
        if progress:
            progress(index + 1, len(alphas))
    spec = dataset_spec(split.dataset)
    result = PruningSweep(
        dataset=split.dataset, task=split.task, metric=spec.metric, seed=split.seed,
        n_train=len(split.X_train), n_test=len(split.X_test), n_features=split.X_train.shape[1],
        cv_folds=cv_folds, path_entries=entries, rows=tuple(rows),
        chosen_index=choose_alpha(r.cv_score for r in rows),
    )
    return result, tuple(trees)


def benchmark_indices(result: PruningSweep, max_variants: int) -> list[int]:
    """Path positions to measure: evenly spaced over the path, always the full tree, the last
    (most pruned) tree and the chosen alpha."""
    n = len(result.rows)
    if max_variants < 1:
        raise ConfigError(f"--max-variants: expected a positive integer, got {max_variants}")
    picked = {0, n - 1, result.chosen_index}
    spare = max(max_variants - len(picked), 0)
    picked |= {int(round(x)) for x in np.linspace(0, n - 1, spare + 2)[1:-1]} if spare else set()
    return sorted(picked)


# -- tree arrays and variants ----------------------------------------------------------------------

_NODE_FIELDS = ("left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples",
                "weighted_n_node_samples", "missing_go_to_left")


def tree_arrays(estimator) -> dict[str, np.ndarray]:
    """A fitted tree as plain arrays (no objects): enough to rebuild it exactly."""
    state = estimator.tree_.__getstate__()
    nodes = state["nodes"]
    arrays = {f"node_{f}": np.ascontiguousarray(nodes[f]) for f in _NODE_FIELDS}
    arrays["value"] = np.ascontiguousarray(state["values"])
    arrays["n_features"] = np.array(estimator.n_features_in_, dtype=np.int64)
    arrays["max_depth"] = np.array(state["max_depth"], dtype=np.int64)
    if hasattr(estimator, "classes_"):
        arrays["classes"] = np.asarray(estimator.classes_)
    return arrays


def estimator_from_arrays(arrays) -> object:
    """Rebuild a DecisionTreeClassifier (arrays with "classes") or DecisionTreeRegressor from tree_arrays()."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    from sklearn.tree._tree import NODE_DTYPE, Tree  # the node layout pickling uses; no unpickling here

    missing = [k for k in ("value", "n_features", "max_depth", *(f"node_{f}" for f in _NODE_FIELDS)) if k not in arrays]
    if missing:
        raise HarnessError(f"tree arrays lack {', '.join(missing)}")
    value = np.ascontiguousarray(arrays["value"], dtype=np.float64)
    count = len(arrays["node_left_child"])
    n_features = int(arrays["n_features"])
    if value.ndim != 3 or value.shape[0] != count or value.shape[1] != 1:
        raise HarnessError(f"tree arrays: value has shape {value.shape}, expected ({count}, 1, classes)")
    left, right, feature = arrays["node_left_child"], arrays["node_right_child"], arrays["node_feature"]
    if count < 1 or np.any((left < -1) | (left >= count)) or np.any((right < -1) | (right >= count)) \
            or np.any((feature < -2) | (feature >= n_features)):
        raise HarnessError("tree arrays: child or feature indices out of range")
    nodes = np.zeros(count, dtype=NODE_DTYPE)
    for f in _NODE_FIELDS:
        nodes[f] = arrays[f"node_{f}"]
    classifier = "classes" in arrays
    n_classes = np.array([value.shape[2] if classifier else 1], dtype=np.intp)
    tree = Tree(n_features, n_classes, 1)
    tree.__setstate__({"max_depth": int(arrays["max_depth"]), "node_count": count, "nodes": nodes, "values": value})
    estimator = (DecisionTreeClassifier if classifier else DecisionTreeRegressor)()
    estimator.n_features_in_ = n_features
    estimator.n_outputs_ = 1
    estimator.max_features_ = n_features
    if classifier:
        estimator.classes_ = np.asarray(arrays["classes"])
        estimator.n_classes_ = int(value.shape[2])
    estimator.tree_ = tree
    return estimator


def load_tree_file(path) -> dict[str, np.ndarray]:
    """The arrays of a tree.npz, read without unpickling anything."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: not a readable tree file: {exc}") from None


def _temp_beside(path: Path, suffix: str = ""):
    """(fd, name) of a new temporary file next to `path`, readable like an ordinary file (0644)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.fchmod(fd, 0o644)
    return fd, tmp


def save_npz(arrays: dict, path: Path) -> Path:
    """Write arrays to `path` (uncompressed .npz, no object arrays) through a temporary file."""
    path = Path(path)
    fd, tmp = _temp_beside(path, ".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def arrays_hash(arrays: dict) -> str:
    """Hash of the arrays' names, dtypes, shapes and bytes (not of the .npz file, whose zip headers carry a time)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def variant_id_of(manifest: dict, arrays: dict) -> str:
    """The tree variant id: a hash of the manifest without its timestamps and of the tree's arrays."""
    stable = {k: v for k, v in manifest.items() if k not in _VOLATILE_KEYS}
    h = hashlib.sha256(json.dumps(stable, sort_keys=True, separators=(",", ":")).encode())
    h.update(arrays_hash(arrays).encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class TreeVariant:
    """A loaded tree variant: the rebuilt estimator, its manifest and id."""

    model_name: str
    estimator: object
    manifest: dict
    variant_id: str
    path: str


def is_tree_variant(path) -> bool:
    try:
        return json.loads((Path(path) / MANIFEST_FILE).read_text()).get("kind") == TREE_VARIANT_KIND
    except (OSError, ValueError, AttributeError):
        return False


def read_tree_manifest(path) -> dict:
    """The manifest of the tree variant at `path`, checked for kind and schema version."""
    from .variant import read_checked_manifest

    return read_checked_manifest(path, what="tree variant", kind=TREE_VARIANT_KIND,
                                 versions=READABLE_TREE_VARIANT_VERSIONS, payload=TREE_FILE)


def tree_variant_id(path) -> str:
    """Short hash of the manifest (without its timestamps) and the tree's arrays, the same on every load."""
    p = Path(path)
    return variant_id_of(read_tree_manifest(p), load_tree_file(p / TREE_FILE))


def load_tree_variant(path) -> TreeVariant:
    p = Path(path)
    manifest = read_tree_manifest(p)
    arrays = load_tree_file(p / TREE_FILE)
    return TreeVariant(
        model_name=manifest.get("model"), estimator=estimator_from_arrays(arrays), manifest=manifest,
        variant_id=variant_id_of(manifest, arrays), path=str(p),
    )


def save_tree_variant(estimator, manifest: dict, out_dir) -> Path:
    """Write tree.npz + manifest.json into out_dir, replacing a previous variant there, all or nothing."""
    import sklearn

    from . import __version__

    out = Path(out_dir)
    if out.exists() and not is_tree_variant(out) and (not out.is_dir() or any(out.iterdir())):
        raise HarnessError(f"{str(out)!r} exists and is not a tree variant directory; choose an empty or new path")
    full = {"schema_version": TREE_VARIANT_SCHEMA_VERSION, "kind": TREE_VARIANT_KIND,
            **{k: v for k, v in manifest.items() if k not in ("schema_version", "kind")},
            "model_file": TREE_FILE, "sklearn_version": sklearn.__version__}
    full.setdefault("created_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    full.setdefault("harness_version", __version__)
    def fill(tmp: Path) -> None:
        save_npz(tree_arrays(estimator), tmp / TREE_FILE)
        (tmp / MANIFEST_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")

    return atomic_write_dir(out, fill)


def variant_manifest(result: PruningSweep, index: int, *, model_name: str) -> dict:
    """The manifest fields of the tree at path position `index`."""
    row = result.rows[index]
    metric = result.metric
    return {
        "model": model_name, "dataset": result.dataset, "task": result.task, "metric": metric,
        "seed": result.seed, "split": {"test_size": TEST_SIZE, "stratified": result.task == "classification",
                                       "random_state": result.seed, "n_train": result.n_train, "n_test": result.n_test},
        "alpha": row.alpha, "alpha_index": index, "path_length": len(result.rows), "path_entries": result.path_entries,
        "chosen": index == result.chosen_index, "leaves": row.leaves, "depth": row.depth, "nodes": row.nodes,
        "full_nodes": result.full.nodes,
        "realised_sparsity": {"overall": 1.0 - row.nodes / result.full.nodes},
        "mean_decisions_per_item": row.decisions_per_item,
        "metrics": {f"train_{metric}": row.train_score, f"test_{metric}": row.test_score,
                    f"cv_{metric}": row.cv_score, f"cv_{metric}_std": row.cv_std, "cv_folds": result.cv_folds},
        "quality": {metric: row.test_score, f"train_{metric}": row.train_score, f"cv_{metric}": row.cv_score},
        "method": "cost-complexity", "structure": "subtree",
    }


# -- ONNX ------------------------------------------------------------------------------------------

def output_name(task: str) -> str:
    """The single output the ONNX graph keeps: probabilities for classifiers, the prediction for regressors."""
    return "probabilities" if task == "classification" else "variable"


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
    fd, tmp = _temp_beside(path, ".onnx")
    with os.fdopen(fd, "wb") as fh:
        fh.write(onx.SerializeToString())
    os.replace(tmp, path)
    return path


# -- sweep + measurement + report ------------------------------------------------------------------

@dataclass(frozen=True)
class TreesReport:
    """What `harness trees` produced: the sweep, the measured records and the files written."""

    sweep: PruningSweep
    rows: tuple[dict, ...]  # one table row per alpha (the CSV's rows)
    records: tuple[dict, ...]
    variant_dirs: tuple[str, ...]
    csv_path: str
    md_path: str
    png_path: str


def tree_settings(min_duration_s: float = 1.0):
    """Measurement settings for trees: calls take microseconds to milliseconds, so a second suffices."""
    from .schema import Settings

    return Settings(warmup_iters=20, warmup_s=0.2, min_iters=50, min_duration_s=min_duration_s, timeout_s=300)


def run_trees(dataset: str = "breast_cancer", *, out_dir="results/reports", seed: int = 0,
              results_root=None, variants_dir=None, max_variants: int = 8,
              backends=TREE_BACKENDS, batch_sizes=TREE_BATCH_SIZES, threads: int = 1, settings=None,
              bench: bool = True, repeats: int = 1, progress: bool = True, echo=None) -> TreesReport:
    """Sweep alpha, save a variant per measured alpha, run it through the runner and store, write the report."""
    import sys

    from .schema import BenchConfig

    spec = dataset_spec(dataset)
    for b in backends:
        if b not in TREE_BACKENDS:
            raise choices_error("backend for trees", b, TREE_BACKENDS)
    model_name = f"tree-{dataset}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: print(msg, file=sys.stderr)) if echo is not False else (lambda msg: None)

    split = load_split(dataset, seed)
    say(f"harness trees: {dataset} ({spec.task}), {len(split.X_train)} train / {len(split.X_test)} test rows, "
        f"{spec.n_features} features, seed {seed}; cross-validating every alpha on the path ...")
    result, trees = sweep(split)
    picked = benchmark_indices(result, max_variants)
    vdir = Path(variants_dir) if variants_dir else out / f"trees-{dataset}-variants"
    variant_dirs = {}
    for i in picked:
        variant_dirs[i] = str(save_tree_variant(trees[i], variant_manifest(result, i, model_name=model_name),
                                                vdir / f"alpha-{i:03d}"))
    records: list[dict] = []
    if bench:
        from .bench import run_configs

        base = settings or tree_settings()
        configs = [
            BenchConfig(model=model_name, backend=b, batch_size=bs, seq_len=spec.n_features, threads=threads,
                        variant=variant_dirs[i], settings=base)
            for i in picked for b in backends for bs in batch_sizes
        ]
        say(f"harness trees: path of {len(result.rows)} alphas; measuring {len(picked)} of them "
            f"x {len(backends)} backends x {len(batch_sizes)} batch sizes = {len(configs)} runs")
        records = run_configs(configs, root=results_root, force=True, repeats=repeats, progress=progress,
                              calibrate=False, echo=echo)
    rows = table_rows(result, variant_dirs, records, backends, batch_sizes)
    csv_path = write_csv(rows, out / f"trees-{dataset}.csv")
    png_path = write_plot(result, rows, backends, batch_sizes, out / f"trees-{dataset}.png")
    md_path = write_markdown(result, rows, backends, batch_sizes, out / f"trees-{dataset}.md", png_path.name,
                             records, results_root)
    return TreesReport(result, tuple(rows), tuple(records), tuple(variant_dirs[i] for i in picked),
                       str(csv_path), str(md_path), str(png_path))


def _latency_key(backend: str, batch: int) -> str:
    return f"{backend}_b{batch}_p50_ms"


def table_rows(result: PruningSweep, variant_dirs: dict, records, backends, batch_sizes) -> list[dict]:
    """One row per alpha: the tree, its scores and, where measured, p50 latency and artifact size per backend.

    With repeats, a configuration's latency is the median of its records' p50s.
    """
    metric = result.metric
    by_key: dict = {}
    for r in records:
        cfg = r.get("config") or {}
        by_key.setdefault((cfg.get("variant"), cfg.get("backend"), cfg.get("batch_size")), []).append(r)
    rows = []
    for row in result.rows:
        vdir = variant_dirs.get(row.index)
        out = {
            "alpha_index": row.index, "alpha": row.alpha, "chosen": row.index == result.chosen_index,
            "leaves": row.leaves, "depth": row.depth, "nodes": row.nodes,
            "decisions_per_item": row.decisions_per_item, f"train_{metric}": row.train_score,
            f"test_{metric}": row.test_score, f"cv_{metric}": row.cv_score, f"cv_{metric}_std": row.cv_std,
            "variant": vdir,
        }
        for b in backends:
            sizes = []
            for bs in batch_sizes:
                recs = by_key.get((vdir, b, bs), []) if vdir else []
                ok = [r for r in recs if r.get("status") == "ok"]
                p50s = [r["metrics"]["latency_ms"]["p50"] for r in ok]
                out[_latency_key(b, bs)] = float(np.median(p50s)) if p50s else None
                if recs and not ok:
                    out[f"{b}_b{bs}_status"] = recs[-1].get("status")
                sizes += [r["metrics"].get("artifact_bytes") for r in recs if (r.get("metrics") or {}).get("artifact_bytes")]
            out[f"{b}_bytes"] = sizes[0] if sizes else None
        rows.append(out)
    return rows


def _columns(rows: list[dict]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    return cols


def write_csv(rows: list[dict], path: Path) -> Path:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename."""
    fd, tmp = _temp_beside(Path(path))
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def write_markdown(result: PruningSweep, rows, backends, batch_sizes, path: Path, png_name: str,
                   records, results_root) -> Path:
    metric = result.metric
    full, chosen = result.full, result.chosen
    measured = [r for r in rows if r["variant"]]
    lines = [
        f"# Minimal cost-complexity pruning: {result.dataset}",
        "",
        f"CART tree (scikit-learn), {result.task}, {result.n_train} training and {result.n_test} test rows, "
        f"{result.n_features} features, split and tree seed {result.seed}. Score: {metric} "
        f"({'fraction correct' if metric == 'accuracy' else 'coefficient of determination'}).",
        "",
        f"- Full tree: {full.leaves} leaves, depth {full.depth}, {full.nodes} nodes; "
        f"train {metric} {full.train_score:.4f}, test {full.test_score:.4f}, {result.cv_folds}-fold CV {full.cv_score:.4f}.",
        f"- Cost-complexity path: {len(rows)} distinct alphas ({result.path_entries} path entries; equal alphas "
        f"prune together) from {result.alphas[0]:.4g} to {result.alphas[-1]:.4g}.",
        f"- Chosen by {result.cv_folds}-fold cross-validation on the training rows (best mean score; ties go to "
        f"the larger alpha): alpha = {chosen.alpha:.6g} (path position {chosen.index}), {chosen.leaves} leaves, "
        f"depth {chosen.depth}; test {metric} {chosen.test_score:.4f} vs {full.test_score:.4f} for the full tree.",
        f"- Latency: p50 per call in ms through the harness runner (one pinned worker per configuration, "
        f"{len(records)} records{', store ' + str(results_root) if results_root else ''}), "
        f"measured for {len(measured)} alphas at batch sizes {', '.join(map(str, batch_sizes))}; "
        f"bytes = the file each backend loads (sklearn: tree.npz arrays; onnxruntime: model.onnx). "
        f"FLOPs are not counted for trees; decisions/item is the mean number of threshold comparisons per test row.",
        "",
        f"![accuracy and latency against alpha]({png_name})",
        "",
    ]
    cols = ["alpha_index", "alpha", "chosen", "leaves", "depth", "nodes", "decisions_per_item",
            f"train_{metric}", f"test_{metric}", f"cv_{metric}"]
    for b in backends:
        cols += [_latency_key(b, bs) for bs in batch_sizes] + [f"{b}_bytes"]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "---|" * len(cols))
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    failed = [(r["alpha_index"], k, v) for r in rows for k, v in r.items() if k.endswith("_status")]
    if failed:
        lines += ["", "Runs that did not finish: " + "; ".join(f"alpha #{i} {k[:-7]}: {v}" for i, k, v in failed)]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def write_plot(result: PruningSweep, rows, backends, batch_sizes, path: Path) -> Path:
    """Three panels against alpha (symmetric-log axis: the path crowds near zero): scores, tree size, latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = result.metric
    alphas = np.array(result.alphas)
    positive = alphas[alphas > 0]
    linthresh = float(positive.min()) if positive.size else 1.0
    fig, axes = plt.subplots(3, 1, figsize=(8, 10), sharex=True)
    ax = axes[0]
    for key, label in ((f"train_{metric}", "train"), (f"test_{metric}", "test"), (f"cv_{metric}", f"{result.cv_folds}-fold CV")):
        ax.plot(alphas, [r[key] for r in rows], marker="o", markersize=3, drawstyle="steps-post", label=label)
    ax.axvline(result.chosen.alpha, color="grey", linestyle="--", label=f"chosen alpha {result.chosen.alpha:.3g}")
    ax.set_ylabel(metric)
    ax.set_title(f"Minimal cost-complexity pruning: {result.dataset}")
    ax.legend(loc="best", fontsize=8)
    ax = axes[1]
    ax.plot(alphas, [r["leaves"] for r in rows], marker="o", markersize=3, drawstyle="steps-post", label="leaves")
    ax.plot(alphas, [r["depth"] for r in rows], marker="s", markersize=3, drawstyle="steps-post", label="depth")
    ax.set_ylabel("count")
    ax.legend(loc="best", fontsize=8)
    ax = axes[2]
    plotted = False
    for b in backends:
        for bs in batch_sizes:
            pts = [(r["alpha"], r[_latency_key(b, bs)]) for r in rows if r.get(_latency_key(b, bs))]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=f"{b} batch {bs}")
                plotted = True
    ax.set_ylabel("p50 latency per call (ms)")
    if plotted:
        ax.set_yscale("log")
        ax.legend(loc="best", fontsize=8)
    else:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
    ax.set_xscale("symlog", linthresh=linthresh)
    ax.set_xlim(left=0.0, right=float(alphas[-1]) * 1.5 if alphas[-1] > 0 else 1.0)
    ax.set_xlabel("alpha (symmetric log scale)")
    for a in axes:
        a.grid(True, alpha=0.3)
    fig.tight_layout()
    fd, tmp = _temp_beside(path, ".png")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
    return path
