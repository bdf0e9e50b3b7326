"""RoBERTa with a sequence-classification head: the family a RoBERTa checkpoint directory maps to."""

from __future__ import annotations

from .base import ModelFamily


class Roberta(ModelFamily):
    name = "roberta"
    description = "RoBERTa (from a local checkpoint's config.json), sequence classification"
    transformers_class = "RobertaForSequenceClassification"

    def max_seq_len(self) -> int | None:
        return super().max_seq_len() - 2  # RoBERTa numbers positions from padding_idx + 1
