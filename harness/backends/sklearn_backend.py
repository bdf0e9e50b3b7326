"""scikit-learn: a decision tree's own predict_proba (classifiers) or predict (regressors).

Takes the tree's arrays from the artifact (tree.npz, read with allow_pickle=False) and rebuilds the
estimator in the worker; nothing is unpickled. Runs only tree families (framework "sklearn").
A single tree predicts on one thread, whatever thread count is asked for: the effective settings say
so. The timed call is the public predict API including its input validation, which is what a caller
of scikit-learn pays per call.
"""

from __future__ import annotations

import numpy as np

from harness.contracts import DenseEvidence, EngineReport, KernelInfo, SklearnEngine
from harness.models.tree_data import estimator_from_arrays, load_tree_file

from .base import Backend, BackendUnavailable


class SklearnBackend(Backend):
    name = "sklearn"
    needs_onnx = False
    static_shapes = False
    engine_module = "sklearn"

    def load(self):
        if self.available() is None:
            raise BackendUnavailable("scikit-learn is not installed in this environment")
        if not self.artifact.tree_path:
            raise BackendUnavailable(f"the sklearn backend runs decision-tree models (tree-*) only, not {self.config.model!r}")
        if self.config.precision != "fp32":
            raise BackendUnavailable("scikit-learn trees compare float32 features with float64 thresholds; bf16 is not offered")
        if self.config.kernel != "dense":
            raise BackendUnavailable("scikit-learn trees have no sparse kernel: pruning removes nodes, there are no zeros to skip")

        self.estimator = estimator_from_arrays(load_tree_file(self.artifact.tree_path))
        self.method = "predict_proba" if hasattr(self.estimator, "predict_proba") else "predict"
        self.predict = getattr(self.estimator, self.method)

    def prepare(self, inputs):
        return np.ascontiguousarray(inputs["features"], dtype=np.float32)

    def infer(self, prepared):
        return self.predict(prepared)

    def effective_settings(self):
        import sklearn

        tree = self.estimator.tree_
        return EngineReport(
            precision="fp32",
            threads=1,
            engine=SklearnEngine(
                library="scikit-learn",
                version=sklearn.__version__,
                estimator=type(self.estimator).__name__,
                method=self.method,
                node_count=int(tree.node_count),
                max_depth=int(tree.max_depth),
                leaves=int(tree.n_leaves),
                threads_requested=self.threads,
                threads_note="a single decision tree predicts on one thread",
                precision_note="features compared as float32 against float64 thresholds; float64 leaf values",
            ),
        )

    def kernel_info(self):
        return KernelInfo("dense", DenseEvidence("tree traversal; cost-complexity pruning removes nodes, "
                                                 "so the pruned tree is simply smaller"))
