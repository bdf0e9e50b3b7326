"""Matrix files: YAML with list-valued keys whose product is the set of configurations to run.

    name: nightly-cpu
    models: [bert-base, distilbert]
    backends: [torch, onnxruntime, openvino]
    threads: [1, 2]
    batch_sizes: [1]
    seq_lens: [128]
    variants: [null, variants/bert-base-magnitude-90]   # optional; null = dense
    precisions: [fp32]                                    # optional
    kernels: [dense]                                      # optional
    scenario: single-stream                               # optional
    instance_type: c7a.large                              # optional
    settings: {min_duration_s: 5, min_iters: 30}          # optional, see schema.Settings

Errors name the key path (`matrix.yaml: threads[1]: expected a positive integer, got 'two'`).
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

from .errors import ConfigError
from .schema import KERNELS, PRECISIONS, SCENARIOS, BenchConfig, Settings

LIST_KEYS = {
    "models": str, "backends": str, "threads": int, "batch_sizes": int, "seq_lens": int,
    "variants": (str, type(None)), "precisions": str, "kernels": str,
}
REQUIRED = ("models", "backends", "threads", "batch_sizes", "seq_lens")
SCALAR_KEYS = {"name": str, "scenario": str, "instance_type": str, "settings": dict}
SETTINGS_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join("null" if x is type(None) else _type_name(x) for x in t)
    return {str: "a string", int: "a positive integer", dict: "a mapping", float: "a number", bool: "true or false"}.get(t, t.__name__)


def load_matrix(path: str | Path) -> dict:
    """Read and validate a matrix file; returns the normalised mapping."""
    from .yamlio import read_yaml

    path = Path(path)
    data = read_yaml(path, "matrix")
    return validate_matrix(data, path.name)


def validate_matrix(data, where: str = "matrix") -> dict:
    from .registry import MODELS, USER_BACKENDS

    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to lists, got {type(data).__name__}")
    allowed = list(LIST_KEYS) + list(SCALAR_KEYS)
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {', '.join(allowed)}")
    for key in REQUIRED:
        if key not in data:
            raise ConfigError(f"{where}: missing key {key!r} (required: {', '.join(REQUIRED)})")
    out: dict = {}
    for key, typ in LIST_KEYS.items():
        if key not in data:
            continue
        values = data[key]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: {key}: expected a non-empty list, got {values!r}")
        for i, v in enumerate(values):
            bad_int = typ is int and (not isinstance(v, int) or isinstance(v, bool) or v < 1)
            if bad_int or (typ is not int and not isinstance(v, typ)):
                raise ConfigError(f"{where}: {key}[{i}]: expected {_type_name(typ)}, got {v!r}")
        out[key] = values
    choices = {"models": MODELS, "backends": USER_BACKENDS, "precisions": PRECISIONS, "kernels": KERNELS}
    for key, valid in choices.items():
        for i, v in enumerate(out.get(key, [])):
            if v not in valid:
                raise ConfigError(f"{where}: {key}[{i}]: unknown value {v!r}; valid: {', '.join(valid)}")
    for key, typ in SCALAR_KEYS.items():
        if key in data and not isinstance(data[key], typ):
            raise ConfigError(f"{where}: {key}: expected {_type_name(typ)}, got {data[key]!r}")
    if data.get("scenario", "single-stream") not in SCENARIOS:
        raise ConfigError(f"{where}: scenario: unknown value {data['scenario']!r}; valid: {', '.join(SCENARIOS)}")
    settings = data.get("settings") or {}
    for key, value in settings.items():
        if key not in SETTINGS_FIELDS:
            raise ConfigError(f"{where}: settings.{key}: unknown setting; valid: {', '.join(SETTINGS_FIELDS)}")
        if key == "memory_limit_mb" and value is None:
            continue
        expected = {"int": int, "float": (int, float), "bool": bool, "int | None": int}.get(str(SETTINGS_FIELDS[key].type), object)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{where}: settings.{key}: expected {_type_name(expected if not isinstance(expected, tuple) else float)}, got {value!r}")
    try:
        Settings(**settings)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    out.update({k: data[k] for k in SCALAR_KEYS if k in data})
    return out


def expand(matrix: dict) -> list[BenchConfig]:
    """The product of the matrix's lists, in a stable order; models without a sequence axis (images,
    trees) ignore seq_lens, use their own input size, and run once per batch size."""
    from .registry import model_family

    settings = Settings(**(matrix.get("settings") or {}))
    configs: list[BenchConfig] = []
    seen = set()
    for model, variant, backend, threads, batch, seq, precision, kernel in itertools.product(
        matrix["models"], matrix.get("variants", [None]), matrix["backends"], matrix["threads"],
        matrix["batch_sizes"], matrix["seq_lens"], matrix.get("precisions", ["fp32"]), matrix.get("kernels", ["dense"]),
    ):
        family = model_family(model)
        if family.kind != "text":  # images have one input size, trees one feature count
            seq = family.default_seq_len
        cfg = BenchConfig(
            model=model, backend=backend, batch_size=batch, seq_len=seq, threads=threads, precision=precision,
            kernel=kernel, variant=variant, scenario=matrix.get("scenario", "single-stream"),
            instance_type=matrix.get("instance_type"), settings=settings,
        )
        key = cfg.config_hash(variant)
        if key not in seen:
            seen.add(key)
            configs.append(cfg)
    return configs


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'i/n' (1-based) -> (i, n); 'auto' reads it from the scheduler's environment (harness.fleet.scheduler)."""
    if not text:
        return None
    if text == "auto":
        from .fleet.scheduler import shard_from_env
        return shard_from_env()
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard: expected i/n such as 1/4, or auto, got {text!r}") from None
    if n < 1 or not 1 <= i <= n:
        raise ConfigError(f"--shard: need 1 <= i <= n, got {text!r}")
    return i, n


def shard(configs: list[BenchConfig], spec: tuple[int, int] | None) -> list[BenchConfig]:
    """Deterministic partition: a configuration belongs to shard (hash mod n) + 1, whatever the order."""
    if spec is None:
        return configs
    i, n = spec
    return [c for c in configs if int(c.config_hash(c.variant), 16) % n == i - 1]
