"""CART decision trees (scikit-learn) as model families: tree-breast_cancer, tree-digits, tree-wine,
tree-diabetes.

A tree family is not a torch model. It sets framework = "sklearn", and the runner's artifact step
hands it the whole preparation (prepare_artifact): the tree's arrays, the ONNX conversion, seeded test
rows and the sklearn reference output. The "dense" model of a tree family is the full (unpruned) tree
grown with seed 0 on the seed-0 training split; pruned trees are tree variants written by
`harness trees`. BenchConfig.seq_len means the feature count here (default_seq_len), and any other
value is refused. FLOPs are not counted (flops() is None): a tree does threshold comparisons, not
multiply-adds, and the variant manifest records the mean number of comparisons per row instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError, HarnessError
from .base import ModelFamily

TREE_ARTIFACT_SCHEMA_VERSION = 1


class TreeFamily(ModelFamily):
    """A decision tree on one bundled data set. Subclasses set `dataset` and the matching constants."""

    framework = "sklearn"
    kind = "tabular"
    dataset = ""
    input_names = ("features",)
    pretrained = False

    @property
    def spec(self):
        from ..trees import dataset_spec

        return dataset_spec(self.dataset)

    @property
    def output_names(self) -> tuple[str, ...]:
        from ..trees import output_name

        return (output_name(self.spec.task),)

    # -- construction ---------------------------------------------------------------------
    def build(self, *, checkpoint: str | Path | None = None, seed: int = 0):
        """The fitted estimator: a tree variant directory's tree, or the full tree grown with `seed`."""
        from ..trees import fit_tree, load_split, load_tree_variant

        if checkpoint is not None:
            variant = load_tree_variant(checkpoint)
            if variant.model_name != self.name:
                raise HarnessError(f"tree variant {str(checkpoint)!r} was made for {variant.model_name!r}, not {self.name!r}")
            return variant.estimator
        return fit_tree(load_split(self.dataset, seed))

    def make_config(self):
        raise NotImplementedError(f"{self.name} is a scikit-learn tree; it has no transformers config")

    def model_class(self):
        raise NotImplementedError(f"{self.name} is a scikit-learn tree; it has no torch model class")

    # -- inputs -----------------------------------------------------------------------------
    def example_inputs(self, batch_size: int = 1, seq_len: int | None = None, seed: int = 0) -> dict:
        """Real test rows (seed-0 split) as float32 numpy arrays, keyed "features"."""
        from ..trees import load_split, model_inputs

        self._check_features(seq_len)
        return {"features": model_inputs(load_split(self.dataset, 0), batch_size, seed)}

    def dynamic_axes(self) -> dict:
        return {"features": {0: "batch"}, self.output_names[0]: {0: "batch"}}

    def _check_features(self, seq_len) -> None:
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

    # -- the runner's artifact ------------------------------------------------------------------
    def variant_id(self, path) -> str:
        from ..trees import tree_variant_id

        return tree_variant_id(path)

    def prepare_artifact(self, config, directory, *, static: bool, needs_onnx: bool) -> dict:
        """Make (or reuse) what a worker needs for `config` under the artifact cache `directory`.

        Layout: <directory>/<model>-<variant id | dense-<tree hash>>/
            tree.npz (the tree's arrays), model.onnx (when needs_onnx), meta.json,
            io-b{B}.npz ("input:features" test rows + "reference", sklearn's predict_proba or predict
            as float32). Shapes are dynamic in the ONNX graph, so `static` changes nothing.
        Returns the same keys as the torch artifact; flops_per_inference is None (not counted for trees).
        """
        from ..trees import (TREE_FILE, arrays_hash, atomic_write_text, estimator_from_arrays, fit_tree,
                             load_split, load_tree_file, mean_decisions, model_inputs, predict_output,
                             read_tree_manifest, save_npz, tree_arrays, variant_id_of, write_onnx)

        self._check_features(config.seq_len)
        if getattr(config, "checkpoint", None):
            raise ConfigError(f"checkpoint: {self.name} is a scikit-learn tree with no Hugging Face checkpoint, "
                              f"got {config.checkpoint!r}; give a pruned tree as --variant DIR (from `harness trees`)")
        if config.variant:
            manifest = read_tree_manifest(config.variant)
            if manifest.get("model") != self.name:
                raise HarnessError(f"tree variant {config.variant!r} was made for {manifest.get('model')!r}, not {self.name!r}")
            arrays = load_tree_file(Path(config.variant) / TREE_FILE)
            variant_id = variant_id_of(manifest, arrays)
            tag = variant_id
        else:
            manifest, variant_id = None, None
            arrays = tree_arrays(fit_tree(load_split(self.dataset, 0)))
            tag = f"dense-{arrays_hash(arrays)[:16]}"
        sub = Path(directory) / f"{self.name}-{tag}"
        sub.mkdir(parents=True, exist_ok=True)
        tree_path, onnx_path = sub / TREE_FILE, sub / "model.onnx"
        io_path, meta_path = sub / f"io-b{config.batch_size}.npz", sub / "meta.json"
        estimator = None
        if not tree_path.exists():
            save_npz(arrays, tree_path)
        if needs_onnx and not onnx_path.exists():
            estimator = estimator or estimator_from_arrays(arrays)
            write_onnx(estimator, onnx_path, self.input_names[0])
        if not io_path.exists():
            estimator = estimator or estimator_from_arrays(arrays)
            features = model_inputs(load_split(self.dataset, 0), config.batch_size, seed=0)
            save_npz({"input:features": features, "reference": predict_output(estimator, features)}, io_path)
        if not meta_path.exists():
            estimator = estimator or estimator_from_arrays(arrays)
            split = load_split(self.dataset, 0)
            meta = {
                "schema_version": TREE_ARTIFACT_SCHEMA_VERSION,
                "flops_per_inference": None,
                "flops_nonzero_per_inference": None,
                "tree_bytes": tree_path.stat().st_size,
                "nodes": int(estimator.tree_.node_count),
                "leaves": int(estimator.get_n_leaves()),
                "depth": int(estimator.get_depth()),
                "mean_decisions_per_item": mean_decisions(estimator, split.X_test),
            }
            atomic_write_text(meta_path, json.dumps(meta))
        meta = json.loads(meta_path.read_text())
        artifact = {
            "dir": str(sub), "io_path": str(io_path), "input_names": list(self.input_names),
            "variant_id": variant_id, "variant_manifest": manifest, "tree_path": str(tree_path),
            "framework": self.framework, **meta,
        }
        if needs_onnx:
            artifact["onnx_path"] = str(onnx_path)
            artifact["artifact_bytes"] = onnx_path.stat().st_size
        else:
            artifact["artifact_bytes"] = meta["tree_bytes"]
        return artifact


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
