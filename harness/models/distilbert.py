"""DistilBERT (6 layers, hidden 768, 66M parameters) with a sequence-classification head."""

from __future__ import annotations

from .base import ModelFamily


class DistilBert(ModelFamily):
    name = "distilbert"
    description = "DistilBERT base shape (6 x 768, 66M params), seeded random weights, 2-way head"
    transformers_class = "DistilBertForSequenceClassification"

    def _is_encoder_linear(self, name: str) -> bool:
        return ".layer." in name and "classifier" not in name


class DistilBertTiny(DistilBert):
    name = "distilbert-tiny"
    description = "tiny DistilBERT (2 x 64) for tests"
    default_seq_len = 16
    config_args = dict(vocab_size=1000, dim=64, n_layers=2, n_heads=4, hidden_dim=128, max_position_embeddings=128)
