"""CART decision-tree data: scikit-learn's bundled data sets, seeded splits, fitting, and a fitted tree as plain
arrays (never pickled).

A tree is stored as its arrays: the node arrays of sklearn's Tree (children, feature, threshold, impurity,
sample counts, missing-value direction) and the leaf values, read back with allow_pickle=False and rebuilt
into a real DecisionTreeClassifier/Regressor through Tree.__setstate__, fed from those arrays. That state
dict is what sklearn's own pickling uses, a private interface: it is pinned with scikit-learn 1.9.1 and a
round-trip test checks that the rebuilt tree predicts exactly what the original did.

Imports at module level are the standard library and numpy only: the sklearn worker imports this module to
rebuild a tree; scikit-learn is loaded inside the functions that need it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.foundation.errors import HarnessError, choices_error
from harness.foundation.fsutil import atomic_output

TEST_SIZE = 0.25


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


def output_name(task: str) -> str:
    """The single output the ONNX graph keeps: probabilities for classifiers, the prediction for regressors."""
    return "probabilities" if task == "classification" else "variable"


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


def save_npz(arrays: dict, path) -> Path:
    """Write arrays to `path` (uncompressed .npz, no object arrays), atomically."""
    with atomic_output(path, ".npz") as tmp:
        np.savez(tmp, **arrays)
    return Path(path)


def arrays_hash(arrays: dict) -> str:
    """Hash of the arrays' names, dtypes, shapes and bytes (not of the .npz file, whose zip headers carry a time)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()
