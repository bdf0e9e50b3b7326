"""Tiny checkpoint directories as a user's `save_pretrained` writes them (config.json, model.safetensors and, for
text models, the tokenizer), for the tests that bring their own model."""

from __future__ import annotations

from pathlib import Path

LABELS3 = {0: "neg", 1: "neu", 2: "pos"}


def save(model, directory: Path, tokenizer: bool = True) -> Path:
    model.eval().save_pretrained(directory)
    if tokenizer:
        from harness.models.tokenizers import package_tokenizer

        package_tokenizer().save_pretrained(directory)
    return directory


def make_checkpoint(kind: str, labels: int, directory: Path, classifier_gain: float = 1.0) -> Path:
    """A tiny, seeded model of the given architecture (bert, distilbert, roberta, resnet) with `labels` classes.
    `classifier_gain` multiplies the classification head's weights: at 1 the random model's logits are about 0.02,
    at 250 about 5 (a model whose outputs a parity tolerance can tell from zeros)."""
    import torch
    import transformers as t

    torch.manual_seed(labels)
    names = {"id2label": LABELS3, "label2id": {v: k for k, v in LABELS3.items()}} if labels == 3 else {}
    text = dict(vocab_size=30522, max_position_embeddings=64, num_labels=labels, **names)
    if kind == "bert":
        model = t.BertForSequenceClassification(t.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                             intermediate_size=64, **text))
    elif kind == "distilbert":
        model = t.DistilBertForSequenceClassification(t.DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, **text))
    elif kind == "roberta":
        text["max_position_embeddings"] = 66
        model = t.RobertaForSequenceClassification(t.RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                                   intermediate_size=64, **text))
    else:
        model = t.ResNetForImageClassification(t.ResNetConfig(embedding_size=8, hidden_sizes=[16, 32], depths=[1, 1],
                                                              layer_type="bottleneck", num_labels=labels))
    if classifier_gain != 1.0:
        with torch.no_grad():
            head = model.classifier if kind != "resnet" else model.classifier[-1]
            (head.out_proj if kind == "roberta" else head).weight.mul_(classifier_gain)
    return save(model, Path(directory), tokenizer=kind != "resnet")


def predictions(directory: Path, texts: list[str], seq: int) -> list[int]:
    """A checkpoint's own top-1 on `texts`, computed with transformers directly (not through the harness)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    enc = tok(texts, truncation=True, max_length=seq, padding="max_length", return_tensors="pt")
    with torch.inference_mode():
        return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.argmax(-1).tolist()
