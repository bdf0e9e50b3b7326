"""What a worker needs, prepared once in the parent and cached: the ONNX export, seeded inputs,
the torch fp32 reference output, FLOP counts and sizes.

Cache layout (under HARNESS_CACHE_DIR, default .cache/ in the repository):
  artifacts/<model>-<variant id or dense>-<dynamic | static-b{B}-s{S}>/
      model.onnx, meta.json, io-b{B}-s{S}.npz (inputs + torch fp32 reference logits)
Every file is written to a temporary name and renamed, so a killed export leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import HarnessError
from ..fsutil import atomic_write_bytes
from ..machine import cache_dir

OPSET = 17
ARTIFACT_SCHEMA_VERSION = 1


def build_model(model_name: str, variant: str | None, checkpoint: str | None = None):
    """(family, torch model in eval mode, variant manifest or None, variant id or None)."""
    from ..registry import model_family

    family = model_family(model_name)
    if variant:
        from ..variant import load_variant

        v = load_variant(variant)
        if v.model_name != model_name:
            raise HarnessError(f"variant {variant!r} was made from model {v.model_name!r}, not {model_name!r}")
        return family, v.model.eval(), v.manifest, v.variant_id
    from ..models.base import quiet_transformers

    quiet_transformers()
    allow_pickle = os.environ.get("HARNESS_ALLOW_PICKLE") == "1"
    model = family.load_checkpoint(checkpoint, allow_pickle=allow_pickle) if checkpoint else family.build()
    return family, model, None, None


def load_torch_model(config: dict):
    """The positional-forward torch module a torch-based worker runs (same weights as the export)."""
    from ..models.base import ExportWrapper

    family, model, _, _ = build_model(config["model"], config.get("variant"), config.get("checkpoint"))
    return ExportWrapper(model, family.input_names).eval()


def checkpoint_id(directory: str) -> str:
    """A short id of a checkpoint directory's contents (config and weight files: name, size, mtime)."""
    from ..schema import stable_hash

    path = Path(directory)
    if not path.is_dir():
        raise HarnessError(f"checkpoint directory {directory!r} does not exist")
    return stable_hash([(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in sorted(path.iterdir()) if p.is_file()])[:10]


def _variant_id(variant: str | None) -> str | None:
    if not variant:
        return None
    from ..variant import variant_id

    try:
        return variant_id(variant)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"variant {variant!r} cannot be read: {exc}") from None


def prepare(config, *, static: bool, needs_onnx: bool) -> dict:
    """Make (or reuse) everything a worker needs for `config` (a BenchConfig). Returns the artifact dict.

    The model is built only when something is missing from the cache.
    """
    from ..registry import model_family

    family = model_family(config.model)
    if family.framework != "torch":  # e.g. scikit-learn trees: the family prepares its own artifact
        return family.prepare_artifact(config, cache_dir() / "artifacts", static=static, needs_onnx=needs_onnx)
    variant_id = _variant_id(config.variant)
    shape_tag = f"static-b{config.batch_size}-s{config.seq_len}" if static else "dynamic"
    weights = variant_id or (f"ckpt{checkpoint_id(config.checkpoint)}" if config.checkpoint else "dense")
    directory = cache_dir() / "artifacts" / f"{config.model}-{weights}-{shape_tag}"
    directory.mkdir(parents=True, exist_ok=True)
    io_path = directory / f"io-b{config.batch_size}-s{config.seq_len}.npz"
    onnx_path = directory / "model.onnx"
    meta_path = directory / f"meta-b{config.batch_size}-s{config.seq_len}.json"
    manifest_path = directory / "variant-manifest.json"
    missing = not io_path.exists() or not meta_path.exists() or (needs_onnx and not onnx_path.exists())
    if missing:
        _build_artifacts(config, family, directory, io_path, onnx_path, meta_path, manifest_path, needs_onnx, static)
    meta = json.loads(meta_path.read_text())
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    artifact = {
        "dir": str(directory),
        "io_path": str(io_path),
        "input_names": list(family.input_names),
        "variant_id": variant_id,
        "variant_manifest": manifest,
        **meta,
    }
    if needs_onnx:
        artifact["onnx_path"] = str(onnx_path)
        artifact["artifact_bytes"] = onnx_path.stat().st_size
    else:
        artifact["artifact_bytes"] = meta["weights_bytes"]
    return artifact


def _build_artifacts(config, family, directory, io_path, onnx_path, meta_path, manifest_path, needs_onnx, static):
    import numpy as np
    import torch

    from ..models.base import ExportWrapper

    _, model, manifest, _ = build_model(config.model, config.variant, config.checkpoint)
    if manifest is not None:
        atomic_write_bytes(manifest_path, json.dumps(manifest).encode())
    wrapper = ExportWrapper(model, family.input_names).eval()
    inputs = family.example_inputs(config.batch_size, config.seq_len, seed=0)
    args = tuple(inputs[name] for name in family.input_names)
    if not io_path.exists():
        with torch.inference_mode():
            reference = wrapper(*args).float().numpy()
        arrays = {f"input:{k}": v.numpy() for k, v in inputs.items()} | {"reference": reference}
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".npz")
        os.close(fd)
        np.savez(tmp, **arrays)
        os.replace(tmp, io_path)
    if needs_onnx and not onnx_path.exists():
        export_onnx(wrapper, family, args, onnx_path, dynamic=not static)
    if not meta_path.exists():
        meta = {
            "schema_version": ARTIFACT_SCHEMA_VERSION,
            "flops_per_inference": family.flops(model, 1, config.seq_len),
            "flops_nonzero_per_inference": family.flops(model, 1, config.seq_len, nonzero=True),
            "weights_bytes": sum(p.numel() * p.element_size() for p in model.state_dict().values()),
            "params": sum(p.numel() for p in model.parameters()),
            "nonzero_params": sum(int(torch.count_nonzero(p)) for p in model.parameters()),
        }
        atomic_write_bytes(meta_path, json.dumps(meta).encode())


def export_onnx(wrapper, family, args, path: Path, *, dynamic: bool = True, opset: int = OPSET) -> Path:
    """torch.onnx.export (TorchScript exporter) with fixed or dynamic batch/sequence axes, atomically."""
    import torch

    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx")
    os.close(fd)
    import warnings

    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about constants; parity is checked per shape
            torch.onnx.export(
                wrapper, args, tmp,
                input_names=list(family.input_names), output_names=list(family.output_names),
                dynamic_axes=family.dynamic_axes() if dynamic else None,
                opset_version=opset, dynamo=False, do_constant_folding=True,
            )
        os.replace(tmp, path)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HarnessError(f"ONNX export of {family.name} failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    return path
