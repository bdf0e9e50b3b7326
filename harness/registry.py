"""Name -> "module:attribute" for every plug-in, imported lazily.

Adding a model family, backend, criterion or price source is one module plus one line here.
Heavy engines are imported only when their entry is resolved.
"""

from __future__ import annotations

import importlib

from .errors import choices_error

MODELS = {
    "bert-base": "harness.models.bert:BertBase",
    "distilbert": "harness.models.distilbert:DistilBert",
    "resnet50": "harness.models.resnet:ResNet50",
    "minilm": "harness.models.minilm:MiniLM",
    # tiny configurations of each family, for tests and quick CI runs
    "bert-tiny": "harness.models.bert:BertTiny",
    "distilbert-tiny": "harness.models.distilbert:DistilBertTiny",
    "resnet50-tiny": "harness.models.resnet:ResNetTiny",
    "minilm-tiny": "harness.models.minilm:MiniLMTiny",
    # scikit-learn decision trees (framework "sklearn"); pruned with `harness trees`
    "tree-breast_cancer": "harness.models.trees:TreeBreastCancer",
    "tree-digits": "harness.models.trees:TreeDigits",
    "tree-wine": "harness.models.trees:TreeWine",
    "tree-diabetes": "harness.models.trees:TreeDiabetes",
}

BACKENDS = {
    "torch": "harness.backends.torch_backend:TorchBackend",
    "onnxruntime": "harness.backends.ort_backend:OrtBackend",
    "openvino": "harness.backends.openvino_backend:OpenVinoBackend",
    "deepsparse": "harness.backends.deepsparse_backend:DeepSparseBackend",
    "torch-cuda": "harness.backends.torch_cuda:TorchCudaBackend",
    "sklearn": "harness.backends.sklearn_backend:SklearnBackend",
    # not an engine: measures the machine's GEMM peak inside a pinned worker
    "gemm": "harness.backends.gemm:GemmCalibration",
}

# backends a user may name on the command line (gemm is internal)
USER_BACKENDS = tuple(b for b in BACKENDS if b != "gemm")


def _load(spec: str):
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def resolve(table: dict, kind: str, name: str):
    if name not in table:
        raise choices_error(kind, name, table)
    return _load(table[name])


def model_family(name: str):
    """Return an instance of the model family called `name`."""
    return resolve(MODELS, "model", name)()


def backend_class(name: str):
    return resolve(BACKENDS, "backend", name)
