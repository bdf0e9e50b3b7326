"""Model families by name, as "module:Class" strings imported lazily (torch loads only when a family is used).

Adding a family is one module in harness/models plus one line here.
"""

from __future__ import annotations

import importlib

from harness.foundation.errors import choices_error

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


def load_entry(table: dict, kind: str, name: str):
    """The object a registry entry names; an unknown name is a one-line ConfigError listing the valid ones."""
    if name not in table:
        raise choices_error(kind, name, table)
    module, _, attr = table[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def model_family(name: str):
    """An instance of the model family called `name`."""
    return load_entry(MODELS, "model", name)()


def family_for(model: str, checkpoint: str | None = None):
    """The family a configuration names: a zoo family (which loads `checkpoint` when one is given, as
    `--model bert-base --checkpoint DIR` does), or, for a name outside the zoo, the checkpoint's own family
    from its config.json."""
    if checkpoint and model not in MODELS:
        from .checkpoint import checkpoint_family

        return checkpoint_family(checkpoint, model)
    return model_family(model)
