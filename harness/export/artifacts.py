"""prepare(config) -> Artifact: everything a worker needs, made once in the parent and cached.

Cache layout (under HARNESS_CACHE_DIR, default .cache/ in the repository):
  artifacts/<model>-<variant id | ckpt<id> | dense>-<dynamic | static-b{B}-s{S}>/
      model.onnx, meta-b{B}-s{S}.json, io-b{B}-s{S}.npz (inputs + torch fp32 reference logits),
      variant-manifest.json, int8 models (harness.quantization.int8), engine compile caches (the backends)
  eval/eval-<key>.npz   tokenised evaluation sets with the dense model's answers: one per task, shape and dense
      checkpoint, shared by every variant of it (harness.export.eval_set)
Every file is written to a temporary name and renamed, so a killed export leaves nothing half-written.
The model is built only when something is missing from the cache.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness.contracts import Artifact, ArtifactMeta, BenchConfig, EvalSetMeta, Phases, Quantization, VariantManifest
from harness.foundation.errors import HarnessError
from harness.foundation.fsutil import atomic_output, atomic_write_text
from harness.foundation.machine import cache_dir
from harness.models.checkpoint import checkpoint_id
from harness.models.registry import family_for
from harness.quantization.int8 import quantized_model
from harness.variants.identify import variant_id as variant_id_of

from .build import build_model
from .onnx import export_onnx
from .trees import prepare_tree_artifact


def prepare(config: BenchConfig, *, static: bool, needs_onnx: bool, int8_format: str | None = None) -> Artifact:
    """The artifact for `config` (fixed shapes when `static`; an ONNX file when `needs_onnx`; an int8 model in
    `int8_format`, harness.quantization.quantize, made from the fp32 export and cached beside it)."""
    started = time.perf_counter()
    family = family_for(config.model, config.checkpoint)
    if family.framework == "sklearn":
        if config.task is not None:
            raise HarnessError(f"task: {family.name} is a decision tree; its quality is measured by `harness trees`")
        return prepare_tree_artifact(config, family, cache_dir() / "artifacts", needs_onnx=needs_onnx)

    variant_id = variant_id_of(config.variant) if config.variant else None
    shape_tag = f"static-b{config.batch_size}-s{config.seq_len}" if static else "dynamic"
    weights = variant_id or (f"ckpt{checkpoint_id(config.checkpoint)}" if config.checkpoint else "dense")
    directory = cache_dir() / "artifacts" / f"{config.model}-{weights}-{shape_tag}"
    directory.mkdir(parents=True, exist_ok=True)
    shape = f"b{config.batch_size}-s{config.seq_len}"
    paths = {"io": directory / f"io-{shape}.npz", "onnx": directory / "model.onnx",
             "meta": directory / f"meta-{shape}.json", "manifest": directory / "variant-manifest.json"}
    meta = _read_meta(paths["meta"])
    cached = paths["io"].exists() and meta is not None and (not needs_onnx or paths["onnx"].exists())
    if not cached:
        _build(config, family, paths, needs_onnx=needs_onnx, static=static, rebuild_meta=meta is None)
        meta = ArtifactMeta.from_json(json.loads(paths["meta"].read_text()), str(paths["meta"]))
    manifest = json.loads(paths["manifest"].read_text()) if paths["manifest"].exists() else None
    export_s = time.perf_counter() - started
    t0 = time.perf_counter()
    eval_path, eval_meta = _eval_set(config, family)
    eval_set_s = time.perf_counter() - t0
    onnx_path = str(paths["onnx"]) if needs_onnx else None
    size = paths["onnx"].stat().st_size if needs_onnx else meta.weights_bytes
    ir_path, quantization = None, None
    if int8_format:
        path, quantization = quantized_model(config, family, paths["onnx"], int8_format, static=static)
        quantization = quantization.replace(chain=chain(manifest, quantization))
        onnx_path, ir_path = (None, str(path)) if int8_format == "nncf" else (str(path), None)
        size = quantization.bytes
    phases = Phases(export_s=round(export_s, 4), export_cached=cached,
                    quantization_s=round(quantization.seconds, 4) if quantization else None,
                    eval_set_s=round(eval_set_s, 4) if config.task is not None else None)
    return Artifact(
        dir=str(directory), io_path=str(paths["io"]), input_names=tuple(family.input_names),
        onnx_path=onnx_path, openvino_ir_path=ir_path, quantization=quantization, variant_id=variant_id,
        variant_manifest=manifest, artifact_bytes=size,
        weights_bytes=meta.weights_bytes, params=meta.params, nonzero_params=meta.nonzero_params,
        flops_per_inference=meta.flops_per_inference,
        flops_nonzero_per_inference=meta.flops_nonzero_per_inference, eval_path=eval_path, eval_meta=eval_meta,
        phases=phases,
    )


def _read_meta(path: Path) -> ArtifactMeta | None:
    """The cached meta file, or None when it is missing or no longer reads (then it is counted again)."""
    try:
        return ArtifactMeta.from_json(json.loads(path.read_text()), str(path))
    except (OSError, ValueError):  # missing, not JSON, or a RecordError: not trusted
        return None


def _eval_set(config: BenchConfig, family) -> tuple[str | None, EvalSetMeta | None]:
    """The evaluation set of config.task, with the dense fp32 model of the same family (or checkpoint) as the
    reference for top-1 agreement; one per dense model, shared by its variants."""
    if config.task is None:
        return None, None
    from .eval_set import prepare_eval_set

    dense_id = f"ckpt{checkpoint_id(config.checkpoint)}" if config.checkpoint else f"{config.model}:seed0"
    dense = lambda: build_model(config.model, None, config.checkpoint)[1]  # noqa: E731 - only built when missing
    return prepare_eval_set(config, family, cache_dir() / "eval", dense, dense_id)


def _build(config: BenchConfig, family, paths: dict, *, needs_onnx: bool, static: bool, rebuild_meta: bool) -> None:
    import numpy as np
    import torch

    from harness.models.base import ExportWrapper


    _, model, manifest, _ = build_model(config.model, config.variant, config.checkpoint)
    if manifest is not None:
        atomic_write_text(paths["manifest"], json.dumps(manifest.to_json()))
    wrapper = ExportWrapper(model, family.input_names).eval()
    inputs = family.example_inputs(config.batch_size, config.seq_len, seed=0)
    args = tuple(inputs[name] for name in family.input_names)
    if not paths["io"].exists():
        with torch.inference_mode():
            reference = wrapper(*args).float().numpy()
        arrays = {f"input:{k}": v.numpy() for k, v in inputs.items()} | {"reference": reference}
        with atomic_output(paths["io"], ".npz") as tmp:
            np.savez(tmp, **arrays)
    if needs_onnx and not paths["onnx"].exists():
        export_onnx(wrapper, family, args, paths["onnx"], dynamic=not static)
    if rebuild_meta:
        meta = ArtifactMeta(
            flops_per_inference=family.flops(model, 1, config.seq_len),
            flops_nonzero_per_inference=family.flops(model, 1, config.seq_len, nonzero=True),
            weights_bytes=sum(p.numel() * p.element_size() for p in model.state_dict().values()),
            params=sum(p.numel() for p in model.parameters()),
            nonzero_params=sum(int(torch.count_nonzero(p)) for p in model.parameters()),
        )
        atomic_write_text(paths["meta"], json.dumps(meta.to_json()))


def chain(manifest: dict | None, quantization: Quantization) -> str:
    """What was done to the model, in order: "second-order 80% unstructured -> int8 qdq (128 examples of sst2 train)";
    layers the sensitivity pass returned to fp32 are counted."""
    steps = []
    if manifest:
        typed = VariantManifest.from_json(manifest, "variant manifest")
        sparsity = typed.realised_sparsity.overall
        amount = f" {sparsity:.0%}" if sparsity is not None else ""
        steps.append(f"{typed.method or '?'}{amount} {typed.structure or '?'}")
    else:
        steps.append("dense")
    how = [quantization.calibration.source] if quantization.calibration else []
    if quantization.smoothquant_alpha is not None:
        how.append(f"SmoothQuant {quantization.smoothquant_alpha:g}")
    if quantization.returned_to_fp32:
        how.append(f"{len(quantization.returned_to_fp32)} layers back to fp32")
    steps.append(f"int8 {quantization.format}" + (f" ({'; '.join(how)})" if how else ""))
    return " -> ".join(steps)
