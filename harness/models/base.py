"""The ModelFamily plug-in: build a torch model, make its inputs, name its prunable layers, count FLOPs."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from harness.foundation.errors import HarnessError

from .tokenizers import package_tokenizer


class ExportWrapper(nn.Module):
    """Calls a Hugging Face model with keyword arguments and returns plain logits.

    transformers 5.x models must be called with keywords when traced for export; this wrapper
    gives exporters and engines a positional forward over `input_names`.
    """

    def __init__(self, model: nn.Module, input_names: tuple[str, ...]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *args):
        out = self.model(**dict(zip(self.input_names, args)))
        return out.logits if hasattr(out, "logits") else out[0]


class ModelFamily:
    """Base class. Subclasses set the class attributes; a Hugging Face family names its transformers model class
    (and, for a shape other than the library's default, its configuration's arguments), another family implements
    `make_config`/`model_class`."""

    name: str = ""
    kind: str = "text"  # "text" or "image"
    description: str = ""
    input_names: tuple[str, ...] = ("input_ids", "attention_mask")
    output_names: tuple[str, ...] = ("logits",)
    default_seq_len: int = 128
    num_labels: int = 2
    pretrained: bool = False  # real weights ship with it
    # "torch": the runner exports and runs the torch model; anything else: the family implements
    # prepare_artifact(config, directory, *, static, needs_onnx) and the runner delegates to it
    framework: str = "torch"
    transformers_class: str = ""  # e.g. "BertForSequenceClassification"; its config_class makes the configuration
    config_args: dict = {}  # the configuration's arguments beside num_labels (read only; empty: the defaults)

    # -- construction ---------------------------------------------------------------------
    def make_config(self):
        return self.model_class().config_class(**self.config_args, num_labels=self.num_labels)

    def model_class(self):
        if not self.transformers_class:
            raise NotImplementedError(f"{self.name}: no transformers model class")
        import transformers  # lazy: heavy, and only the families that build a model need it

        return getattr(transformers, self.transformers_class)

    def build(self, *, checkpoint: str | Path | None = None, seed: int = 0) -> nn.Module:
        """A model in eval mode: seeded random weights, or a local checkpoint directory."""
        if checkpoint is not None:
            return self.load_checkpoint(checkpoint)
        torch.manual_seed(seed)
        model = self.model_class()(self.make_config())
        return model.eval()

    def load_checkpoint(self, directory: str | Path, *, allow_pickle: bool = False) -> nn.Module:
        """Load a local Hugging Face checkpoint directory; never fetches anything.

        Weights come from model.safetensors, or from pytorch_model.bin read with torch.load's
        weights_only mode. A pickle that needs more than tensors (it could run code) is refused
        unless `allow_pickle` (the CLI's --allow-pickle) says the user trusts it.
        """
        path = Path(directory)
        if not path.is_dir():
            raise HarnessError(f"checkpoint directory {str(path)!r} does not exist")
        if not (path / "config.json").is_file():
            raise HarnessError(f"checkpoint directory {str(path)!r} has no config.json")
        quiet_transformers()
        try:
            # the checkpoint's own labels (num_labels, id2label) stand: a 3-way classifier stays 3-way
            config = self.model_class().config_class.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise HarnessError(f"checkpoint directory {str(path)!r} could not be loaded: {_first_line(exc)}") from None
        if (path / "model.safetensors").is_file():
            state = _load_safetensors(path / "model.safetensors")
        elif (path / "pytorch_model.bin").is_file():
            state = _load_pickled(path / "pytorch_model.bin", allow_pickle)
        else:
            raise HarnessError(f"checkpoint directory {str(path)!r} has no model.safetensors or pytorch_model.bin")
        torch.manual_seed(0)  # heads missing from the checkpoint are initialised reproducibly
        model = self.model_class()(config)
        self.fit_state(model, state, path)
        return model.eval()

    def fit_state(self, model: nn.Module, state: dict, path, *, assign: bool = False) -> None:
        """Load a checkpoint's `state` into `model` (names adapted to the model's prefix); one line when a tensor
        has the wrong shape or a weight other than a task head is missing. With `assign` (meta tensors into a
        model built on the meta device) it checks names and shapes without any data."""
        state = _adapt_prefixes(state, model)
        try:
            missing, _ = model.load_state_dict(state, strict=False, assign=assign)
        except RuntimeError as exc:  # a tensor of the wrong shape: the directory holds another architecture
            raise HarnessError(f"checkpoint directory {str(path)!r} does not match {self.name}: "
                               f"{_mismatch(exc)}") from None
        missing = [k for k in missing if not _is_head(k)]
        if missing:
            raise HarnessError(
                f"checkpoint directory {str(path)!r} does not match {self.name}: {len(missing)} weights missing "
                f"(first: {missing[0]})"
            )

    # -- inputs -----------------------------------------------------------------------------
    def example_inputs(self, batch_size: int = 1, seq_len: int | None = None, seed: int = 0) -> dict:
        """Seeded, realistically shaped inputs as torch tensors, keyed by input name."""
        seq_len = seq_len or self.default_seq_len
        gen = torch.Generator().manual_seed(seed)
        config = self.make_config()
        vocab = config.vocab_size
        # avoid the special-token range at the bottom of the vocabulary
        ids = torch.randint(1000 if vocab > 2000 else 1, vocab, (batch_size, seq_len), generator=gen)
        return {"input_ids": ids, "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long)}

    def max_seq_len(self) -> int | None:
        """The longest sequence the model's position embeddings allow (text models; None otherwise)."""
        if self.kind != "text":
            return None
        return int(getattr(self.make_config(), "max_position_embeddings", 512))

    def task_tokenizer(self):
        """(tokenizer, its name for data ids, vocabulary size to clamp ids to or None) for text tasks: the
        family's own tokenizer, else all-MiniLM-L6-v2's with ids clamped to this model's vocabulary."""
        if hasattr(self, "tokenizer"):
            return self.tokenizer(), self.name, None

        vocab = self.make_config().vocab_size
        return package_tokenizer(), f"minilm-clamp{vocab}", vocab

    def dynamic_axes(self) -> dict:
        return {name: {0: "batch", 1: "sequence"} for name in self.input_names} | {"logits": {0: "batch"}}

    # -- pruning and FLOPs ----------------------------------------------------------------------
    def prunable_layers(self, model: nn.Module) -> dict[str, nn.Module]:
        """Encoder Linear layers (Q, K, V, attention output, intermediate, output): what pruners touch."""
        return {
            name: module
            for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and self._is_encoder_linear(name)
        }

    def _is_encoder_linear(self, name: str) -> bool:
        return ".layer." in name and "classifier" not in name

    def flops(self, model: nn.Module, batch_size: int = 1, seq_len: int | None = None, nonzero: bool = False) -> int:
        """FLOPs per forward pass (2 per multiply-accumulate), measured with forward hooks.

        With nonzero=True, weight FLOPs count only non-zero weights: what is left after pruning,
        the work a perfect sparse kernel would do.
        """
        return count_flops(model, self, batch_size, seq_len, nonzero=nonzero)

    def attention_flops(self, model: nn.Module, batch_size: int, seq_len: int) -> int:
        """Q.K^T and attention.V matmuls, which have no weights and no hooks."""
        cfg = getattr(model, "config", None)
        layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layers", 0)
        heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_heads", 0)
        head_dims = self.head_dims(model)
        total = 0
        for layer_heads_dim in head_dims or [heads * (getattr(cfg, "hidden_size", 0) // max(heads, 1))] * layers:
            total += 2 * 2 * batch_size * seq_len * seq_len * layer_heads_dim
        return total

    def head_dims(self, model: nn.Module) -> list[int]:
        """Per layer: total width of the attention heads (heads x head size), after any head removal."""
        dims = []
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear) and self._is_query(name):
                dims.append(module.out_features)
        return dims

    def _is_query(self, name: str) -> bool:
        return name.endswith("attention.self.query") or name.endswith("attention.q_lin")

    def info(self) -> dict:
        return {"name": self.name, "kind": self.kind, "description": self.description, "pretrained": self.pretrained}


def count_flops(model: nn.Module, family: ModelFamily, batch_size: int, seq_len: int | None, nonzero: bool = False) -> int:
    inputs = family.example_inputs(batch_size, seq_len)
    total = 0

    def weight_count(module):
        w = module.weight
        return int(torch.count_nonzero(w)) if nonzero else w.numel()

    def linear_hook(module, args, output):
        nonlocal total
        rows = output.numel() // module.out_features
        total += 2 * rows * weight_count(module)

    def conv_hook(module, args, output):
        nonlocal total
        out_positions = output.shape[0] * output.shape[2] * output.shape[3]
        total += 2 * out_positions * weight_count(module)

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
        elif isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
    try:
        with torch.inference_mode():
            model(**inputs)
    finally:
        for h in handles:
            h.remove()
    if family.kind == "text":
        total += family.attention_flops(model, batch_size, inputs["input_ids"].shape[1])
    return int(total)


def quiet_transformers() -> None:
    """Silence transformers' load reports and progress bars (they would pollute worker output)."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def _mismatch(exc) -> str:
    """The first tensor that does not fit, from load_state_dict's error (its first line only names the class)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    found = next((ln for ln in lines if ln.startswith("size mismatch")), lines[0] if lines else type(exc).__name__)
    return found.replace("Error(s) in loading state_dict for ", "")[:300]


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _load_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise HarnessError(f"checkpoint file {str(path)!r} is not a readable safetensors file: {_first_line(exc)}") from None


def _load_pickled(path: Path, allow_pickle: bool) -> dict:
    import pickle

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not allow_pickle:
            raise HarnessError(
                f"refusing {str(path)!r}: it is a pickle that needs more than tensors to load, which could run "
                f"code; convert it to safetensors, or pass --allow-pickle if you trust its source"
            ) from None
        _ = exc
    except (OSError, RuntimeError, EOFError) as exc:
        raise HarnessError(f"checkpoint file {str(path)!r} could not be read: {_first_line(exc)}") from None
    return torch.load(str(path), map_location="cpu", weights_only=False)


def _adapt_prefixes(state: dict, model: nn.Module) -> dict:
    """Accept encoder-only checkpoints (keys without the task model's base prefix, as sentence-transformers ship)."""
    expected = set(model.state_dict())
    if any(k in expected for k in state):
        return state
    prefix = getattr(model, "base_model_prefix", "")
    return {f"{prefix}.{k}": v for k, v in state.items()}


def _is_head(key: str) -> bool:
    """Task heads a base checkpoint does not have; they are newly initialised."""
    return key.startswith(("classifier.", "pre_classifier.", "bert.pooler.")) or ".pooler." in key
