"""The cost-complexity pruning sweep of one CART tree: the path of alphas, a pruned tree per alpha with its
train/test/cross-validated scores and size, and the alpha cross-validation chooses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.foundation.errors import ConfigError, HarnessError
from harness.models.tree_data import TEST_SIZE, Split, dataset_spec, fit_tree, make_estimator, mean_decisions

CV_FOLDS = 5


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
