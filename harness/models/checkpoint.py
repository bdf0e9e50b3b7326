"""Bring your own model: a model family made from a local Hugging Face checkpoint directory.

The architecture comes from config.json's `model_type` (bert, distilbert, roberta, resnet); labels
(num_labels, id2label) and the longest input from the same config; text inputs are tokenised with the
tokenizer saved in the directory (a text task on a directory without one is refused, never given another).
Nothing is downloaded. check_checkpoint finds, before any work and without reading the weights' data, what
loading would: a weight file that does not cover itself, tensors that do not fit the config, a tokenizer whose
ids exceed the vocabulary.

    family = checkpoint_family("runs/minilm-sst2")       # name defaults to the directory's name
    check_checkpoint("runs/minilm-sst2", text_task=True)  # one HarnessError line, or nothing
    model = family.build()                                 # the checkpoint's weights, in eval mode
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from harness.contracts import stable_hash
from harness.foundation.errors import HarnessError
from harness.foundation.pathchecks import files_in

from .bert import BertBase
from .distilbert import DistilBert
from .resnet import ResNet50
from .roberta import Roberta
from .tokenizers import check_vocabulary

ARCHITECTURES = {"bert": BertBase, "distilbert": DistilBert, "roberta": Roberta, "resnet": ResNet50}
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer_config.json")
DEFAULT_TEXT_LEN = 128


def read_checkpoint_config(directory) -> dict:
    """config.json of a checkpoint directory; a one-line HarnessError when it is missing or not JSON."""
    (config,) = files_in(directory, ["config.json"], "checkpoint directory")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(f"{config}: not a readable JSON file ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{config}: expected a JSON object")
    return data


def checkpoint_family(directory, name: str | None = None):
    """The family for a checkpoint directory (an instance; its class derives from the architecture's family)."""
    data = read_checkpoint_config(directory)
    model_type = data.get("model_type")
    base = ARCHITECTURES.get(model_type) if isinstance(model_type, str) else None
    if base is None:
        raise HarnessError(f"{Path(directory) / 'config.json'}: model_type {model_type!r} is not supported; "
                           f"supported: {', '.join(ARCHITECTURES)}")
    cls = type(f"Checkpoint{base.__name__}", (CheckpointFamily, base), {})
    return cls(directory, data, name)


class CheckpointFamily:
    """Mixin placed before an architecture family: configuration, labels and weights from the directory."""

    def __init__(self, directory, data: dict, name: str | None = None):
        self.directory = str(Path(directory))
        self.model_type = data["model_type"]
        self.name = name or Path(directory).resolve().name
        self.description = f"local checkpoint {self.directory} ({self.model_type})"
        self._config = None
        config = self.make_config()
        self.num_labels = int(config.num_labels)
        self.id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
        if self.kind == "text":
            self.default_seq_len = min(DEFAULT_TEXT_LEN, self.max_seq_len())

    def make_config(self):
        """The checkpoint's configuration (a fresh copy each time: pruning edits the one it is given)."""
        import copy

        if self._config is None:
            try:
                self._config = self.model_class().config_class.from_pretrained(self.directory, local_files_only=True)
            except (OSError, ValueError, TypeError) as exc:
                first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
                raise HarnessError(f"checkpoint directory {self.directory!r} could not be loaded: {first}") from None
        return copy.deepcopy(self._config)

    def build(self, *, checkpoint=None, seed: int = 0):
        import os

        allow = os.environ.get("HARNESS_ALLOW_PICKLE") == "1"
        return self.load_checkpoint(checkpoint or self.directory, allow_pickle=allow)

    def has_tokenizer(self) -> bool:
        return any((Path(self.directory) / f).is_file() for f in TOKENIZER_FILES)

    def task_tokenizer(self):
        """The checkpoint's own tokenizer (text models): a directory without one, or with one whose ids exceed
        the model's vocabulary, is one line naming the fix; no other tokenizer is taken in its place."""
        if self.kind != "text":
            return super().task_tokenizer()
        if not self.has_tokenizer():
            raise HarnessError(f"checkpoint directory {self.directory!r} has no tokenizer ({', '.join(TOKENIZER_FILES)}); "
                               f"save the one the model was trained with beside it: "
                               f"tokenizer.save_pretrained({self.directory!r})")
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(self.directory, local_files_only=True)
        except (OSError, ValueError, TypeError) as exc:
            raise HarnessError(f"checkpoint directory {self.directory!r}: its tokenizer cannot be loaded: "
                               f"{str(exc).splitlines()[0][:200] if str(exc).strip() else type(exc).__name__}") from None
        check_vocabulary(tok, self.make_config().vocab_size, self.directory)
        return tok, f"checkpoint:{self.name}", None

    def info(self) -> dict:
        return super().info() | {"checkpoint": self.directory, "model_type": self.model_type,
                                 "num_labels": self.num_labels}


def weight_shapes(directory, *, allow_pickle: bool = False, what: str = "checkpoint") -> dict:
    """{name: meta tensor} of a checkpoint's weight file, read without its data: the safetensors header, checked
    to cover the file exactly (a truncated or padded file is one line), or a weights-only pickle."""
    path = Path(directory)
    if (path / "model.safetensors").is_file():
        from safetensors import SafetensorError, safe_open

        file = path / "model.safetensors"
        try:
            with safe_open(str(file), "pt") as f:
                return {k: torch.empty(f.get_slice(k).get_shape(), device="meta",
                                       dtype=getattr(torch, _DTYPES.get(f.get_slice(k).get_dtype(), "float32")))
                        for k in f.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise HarnessError(f"{what} file {str(file)!r} is not a readable safetensors file: {first}") from None
    if (path / "pytorch_model.bin").is_file():
        from .base import _load_pickled

        state = _load_pickled(path / "pytorch_model.bin", allow_pickle)
        if not isinstance(state, dict):
            raise HarnessError(f"checkpoint file {str(path / 'pytorch_model.bin')!r} holds no mapping of weights")
        return {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in state.items() if hasattr(v, "shape")}
    raise HarnessError(f"checkpoint directory {str(path)!r} has no model.safetensors or pytorch_model.bin")


_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64", "I32": "int32",
           "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def check_checkpoint(directory, family=None, *, text_task: bool = False) -> None:
    """Everything loading `directory` would find wrong, found before any work and without reading the weights'
    data: config.json, the weight file (its safetensors header covering the file; the pickle policy), every
    tensor's name and shape against the config (the model is built on the meta device), and with `text_task` its
    tokenizer (present, loadable, ids within the vocabulary). Each problem is one HarnessError line.

    `family`: the family that will load it (a zoo family given with --checkpoint), else the checkpoint's own."""
    from .base import quiet_transformers

    family = family or checkpoint_family(directory)
    quiet_transformers()
    try:
        config = family.model_class().config_class.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"checkpoint directory {str(directory)!r} could not be loaded: {first}") from None
    state = weight_shapes(directory, allow_pickle=os.environ.get("HARNESS_ALLOW_PICKLE") == "1")
    with torch.device("meta"):
        model = family.model_class()(config)
    family.fit_state(model, state, directory, assign=True)
    if text_task and family.kind == "text":
        family.task_tokenizer()


def checkpoint_id(directory: str) -> str:
    """A short id of a checkpoint directory's contents (config and weight files: name, size, mtime)."""
    path = Path(directory)
    if not path.is_dir():
        raise HarnessError(f"checkpoint directory {directory!r} does not exist")
    files = [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in sorted(path.iterdir()) if p.is_file()]
    return stable_hash(files)[:10]
