"""BERT-base (12 layers, hidden 768, 110M parameters) with a sequence-classification head."""

from __future__ import annotations

from .base import ModelFamily


class BertBase(ModelFamily):
    name = "bert-base"
    description = "BERT-base uncased shape (12 x 768, 110M params), seeded random weights, 2-way head"
    transformers_class = "BertForSequenceClassification"


class BertTiny(BertBase):
    name = "bert-tiny"
    description = "tiny BERT (2 x 64) for tests"
    default_seq_len = 16
    config_args = dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=128, max_position_embeddings=128)
