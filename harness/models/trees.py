"""CART decision trees (scikit-learn) as model families: tree-breast_cancer, tree-digits, tree-wine,
tree-diabetes.

A tree family is not a torch model. It sets framework = "sklearn", and the export stage prepares its
artifact (harness.export.trees): the tree's arrays, the ONNX conversion, seeded test rows and the
sklearn reference output. The "dense" model of a tree family is the full (unpruned) tree
grown with seed 0 on the seed-0 training split; pruned trees are tree variants written by
`harness trees`. BenchConfig.seq_len means the feature count here (default_seq_len), and any other
value is refused. FLOPs are not counted (flops() is None): a tree does threshold comparisons, not
multiply-adds, and the variant manifest records the mean number of comparisons per row instead.
"""

from __future__ import annotations

from pathlib import Path

from harness.foundation.errors import ConfigError

from .base import ModelFamily
from .tree_data import dataset_spec, fit_tree, load_split, model_inputs, output_name


class TreeFamily(ModelFamily):
    """A decision tree on one bundled data set. Subclasses set `dataset` and the matching constants."""

    framework = "sklearn"
    kind = "tabular"
    dataset = ""
    input_names = ("features",)
    pretrained = False

    @property
    def spec(self):
        return dataset_spec(self.dataset)

    @property
    def output_names(self) -> tuple[str, ...]:
        return (output_name(self.spec.task),)

    # -- construction ---------------------------------------------------------------------
    def build(self, *, checkpoint: str | Path | None = None, seed: int = 0):
        """The full tree grown with `seed` (pruned trees are tree variants: harness.variants.trees)."""
        if checkpoint is not None:
            raise ConfigError(f"checkpoint: {self.name} is a scikit-learn tree with no checkpoint; give a pruned tree "
                              f"as --variant DIR (from `harness trees`)")
        return fit_tree(load_split(self.dataset, seed))

    def make_config(self):
        raise NotImplementedError(f"{self.name} is a scikit-learn tree; it has no transformers config")

    def model_class(self):
        raise NotImplementedError(f"{self.name} is a scikit-learn tree; it has no torch model class")

    # -- inputs -----------------------------------------------------------------------------
    def example_inputs(self, batch_size: int = 1, seq_len: int | None = None, seed: int = 0) -> dict:
        """Real test rows (seed-0 split) as float32 numpy arrays, keyed "features"."""
        self.check_features(seq_len)
        return {"features": model_inputs(load_split(self.dataset, 0), batch_size, seed)}

    def dynamic_axes(self) -> dict:
        return {"features": {0: "batch"}, self.output_names[0]: {0: "batch"}}

    def check_features(self, seq_len) -> None:
        if seq_len is not None and seq_len != self.default_seq_len:
            raise ConfigError(
                f"seq_len: {self.name} takes {self.default_seq_len} features per row (for tree models seq_len is "
                f"the feature count), got {seq_len}; valid: {self.default_seq_len}"
            )

    # -- pruning and FLOPs --------------------------------------------------------------------
    def prunable_layers(self, model) -> dict:
        """None: trees are pruned by cost-complexity (`harness trees`), not by weight pruners."""
        return {}

    def flops(self, model, batch_size: int = 1, seq_len: int | None = None, nonzero: bool = False):
        """None: a tree does comparisons, not floating-point multiply-adds."""
        return None

    def info(self) -> dict:
        return super().info() | {"framework": self.framework}


class TreeBreastCancer(TreeFamily):
    name = "tree-breast_cancer"
    dataset = "breast_cancer"
    description = "CART tree on breast cancer (569 rows, 30 features, 2 classes), sklearn; prune with `harness trees`"
    default_seq_len = 30  # features
    num_labels = 2


class TreeDigits(TreeFamily):
    name = "tree-digits"
    dataset = "digits"
    description = "CART tree on digits (1797 rows, 64 features, 10 classes), sklearn; prune with `harness trees`"
    default_seq_len = 64
    num_labels = 10


class TreeWine(TreeFamily):
    name = "tree-wine"
    dataset = "wine"
    description = "CART tree on wine (178 rows, 13 features, 3 classes), sklearn; prune with `harness trees`"
    default_seq_len = 13
    num_labels = 3


class TreeDiabetes(TreeFamily):
    name = "tree-diabetes"
    dataset = "diabetes"
    description = "CART regression tree on diabetes (442 rows, 10 features), sklearn; prune with `harness trees`"
    default_seq_len = 10
    num_labels = 1
