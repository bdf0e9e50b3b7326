"""ResNet50 through transformers' ResNetForImageClassification (torchvision does not pair with the
CPU torch build on this machine). ResNetConfig defaults are ResNet-50: 25.6M parameters, 1000 classes."""

from __future__ import annotations

import torch
from torch import nn

from .base import ModelFamily


class ResNet50(ModelFamily):
    name = "resnet50"
    kind = "image"
    description = "ResNet-50 (25.6M params, 1000 classes), seeded random weights, 224x224 input"
    input_names = ("pixel_values",)
    default_seq_len = 224  # image side
    num_labels = 1000
    transformers_class = "ResNetForImageClassification"

    def example_inputs(self, batch_size: int = 1, seq_len: int | None = None, seed: int = 0) -> dict:
        side = seq_len or self.default_seq_len
        gen = torch.Generator().manual_seed(seed)
        channels = self.make_config().num_channels
        return {"pixel_values": torch.randn(batch_size, channels, side, side, generator=gen)}

    def dynamic_axes(self) -> dict:
        return {"pixel_values": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}}

    def prunable_layers(self, model: nn.Module) -> dict[str, nn.Module]:
        """Every convolution after the stem, and the classifier is left alone."""
        return {
            name: module
            for name, module in model.named_modules()
            if isinstance(module, nn.Conv2d) and "embedder" not in name
        }

    def head_dims(self, model):
        return []


class ResNetTiny(ResNet50):
    name = "resnet50-tiny"
    description = "tiny ResNet (bottleneck, 2 stages) for tests, 32x32 input"
    default_seq_len = 32
    num_labels = 10
    config_args = dict(embedding_size=16, hidden_sizes=[32, 64], depths=[1, 1], layer_type="bottleneck")
