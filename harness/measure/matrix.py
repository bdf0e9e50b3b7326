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
    instance_type: c7a.large                              # optional; match: the catalogue type matching this CPU
    settings: {min_duration_s: 5, min_iters: 30, streams: 1}   # optional: measurement settings
                                                          # (harness.contracts.Settings) and backend knobs

Errors name the key path (`matrix.yaml: threads[1]: expected a positive integer, got 'two'`). Validation
is the pydantic model MatrixFile; the command line builds the same mapping and validates it the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
import typing
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, create_model

from harness.backends.registry import USER_BACKENDS, backend_class
from harness.contracts import KERNELS, PRECISIONS, SCENARIOS, BenchConfig, RecordError, Settings, TaskSpec
from harness.foundation.errors import ConfigError, HarnessError
from harness.foundation.limits import MAX_CONFIGURATIONS
from harness.foundation.machine import fingerprint
from harness.foundation.pathchecks import check_input_dir
from harness.foundation.scheduler_env import shard_from_env
from harness.foundation.validation import short, validate
from harness.foundation.yamlio import read_yaml
from harness.models.checkpoint import checkpoint_family
from harness.models.registry import MODELS, family_for
from harness.pricing.catalog import all_instances, isa_classes, matching_instance
from harness.tasks.eval_data import eval_examples

SLA_SCENARIOS = ("server",)  # the scenarios that read settings.sla_ms


def _choice(valid):
    def check(value: str) -> str:
        if value not in valid:
            raise ValueError(f"unknown value {short(value)}; valid: {', '.join(valid)}")
        return value

    return check


@functools.lru_cache(maxsize=1)
def backend_knobs() -> dict[str, tuple[str, ...]]:
    """knob name -> the user backends that declare it (their Settings dataclasses)."""
    out: dict[str, list[str]] = {}
    for name in USER_BACKENDS:
        for f in dataclasses.fields(backend_class(name).Settings):
            out.setdefault(f.name, []).append(name)
    return {k: tuple(v) for k, v in out.items()}


@functools.lru_cache(maxsize=1)
def settings_model() -> type[BaseModel]:
    """A pydantic model of every key `settings:` may hold: measurement settings and backend knobs."""
    fields = {}
    classes = [Settings] + [backend_class(b).Settings for b in USER_BACKENDS]
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            fields.setdefault(f.name, (hints[f.name] | None, None))
    return create_model("MatrixSettings", __config__=ConfigDict(extra="forbid", strict=True), **fields)


class MatrixFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    models: list[Annotated[str, AfterValidator(_choice(MODELS))]] = Field(default=[], min_length=0)
    checkpoints: list[str] = Field(default=[], min_length=0)  # local checkpoint directories (bring your own model)
    backends: list[Annotated[str, AfterValidator(_choice(USER_BACKENDS))]] = Field(min_length=1)
    threads: list[PositiveInt] = Field(min_length=1)
    batch_sizes: list[PositiveInt] = Field(min_length=1)
    seq_lens: list[PositiveInt] = Field(default=[], min_length=0)  # empty: each model's own default
    variants: list[str | None] = Field(default=[None], min_length=1)
    precisions: list[Annotated[str, AfterValidator(_choice(PRECISIONS))]] = Field(default=["fp32"], min_length=1)
    kernels: list[Annotated[str, AfterValidator(_choice(KERNELS))]] = Field(default=["dense"], min_length=1)
    name: str | None = None
    scenario: Literal[SCENARIOS] = "single-stream"  # type: ignore[valid-type]
    instance_type: str | None = None
    settings: dict = Field(default_factory=dict)
    task: dict | None = None  # checked by harness.contracts.TaskSpec (the one task model)


@dataclasses.dataclass(frozen=True)
class Matrix:
    """A validated matrix: the lists to take the product of, the measurement settings and backend knobs."""

    models: tuple[str, ...]
    backends: tuple[str, ...]
    threads: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    seq_lens: tuple[int, ...] = ()
    variants: tuple[str | None, ...] = (None,)
    precisions: tuple[str, ...] = ("fp32",)
    kernels: tuple[str, ...] = ("dense",)
    name: str | None = None
    scenario: str = "single-stream"
    instance_type: str | None = None
    settings: Settings = dataclasses.field(default_factory=Settings)
    knobs: dict = dataclasses.field(default_factory=dict)  # backend knob -> value, routed per backend
    checkpoints: tuple[str, ...] = ()
    task: TaskSpec | None = None

    def backend_settings(self, backend: str) -> dict:
        return backend_settings_for(backend, self.knobs)

    def to_mapping(self) -> dict:
        """The matrix as a file would hold it (validate_matrix(m.to_mapping()) gives the same matrix)."""
        lists = ("models", "backends", "threads", "batch_sizes", "seq_lens", "variants", "precisions", "kernels")
        out: dict = {k: list(getattr(self, k)) for k in lists}
        if self.checkpoints:
            out["checkpoints"] = list(self.checkpoints)
        if self.task is not None:
            out["task"] = {k: v for k, v in self.task.to_json().items() if v not in (None, [])}
        out |= {k: getattr(self, k) for k in ("name", "scenario", "instance_type") if getattr(self, k) is not None}
        settings = {f.name: getattr(self.settings, f.name) for f in dataclasses.fields(Settings)
                    if getattr(self.settings, f.name) != f.default} | dict(self.knobs)
        if settings:
            out["settings"] = settings
        return out


def load_matrix(path: str | Path) -> Matrix:
    """Read and validate a matrix file."""
    path = Path(path)
    return validate_matrix(read_yaml(path, "matrix"), path.name)


def validate_matrix(data, where: str | None = "matrix", flags: dict | None = None) -> Matrix:
    """A Matrix from a parsed file (or the command line's equivalent mapping); one-line ConfigError otherwise.

    `flags` names keys as the command line does ({"models": "--model", "settings.min_iters": "--min-iters"}),
    so a message speaks of the flag the user typed; `where` (a file name) prefixes messages."""
    label = (lambda loc: flags.get(".".join(str(p) for p in loc[:2])) or (flags.get(str(loc[0])) if loc else None)) \
        if flags else None
    parsed = validate(MatrixFile, data, where, label)
    prefix = f"{where}: " if where else ""
    if not parsed.models and not parsed.checkpoints:
        raise ConfigError(f"{prefix}{_flag(flags, 'models')}: give at least one model (or checkpoint directory)")
    check_size(parsed, prefix)
    settings, knobs = split_settings(parsed.settings, parsed.backends, where, flags)
    check_scenario_settings(parsed.scenario, settings, prefix, flags)
    task = None
    if parsed.task is not None:
        try:
            task = TaskSpec.from_json(parsed.task, "task", exact=True)
        except RecordError as exc:
            raise ConfigError(f"{prefix}{_named(str(exc), flags or {})}") from None
    families = [family_for(m) for m in parsed.models]
    for directory in parsed.checkpoints:
        check_input_dir(directory, f"{prefix}{_flag(flags, 'checkpoints')}")
    families += [checkpoint_family(d) for d in parsed.checkpoints]  # missing or unsupported: one line, here
    if task is not None:
        for family in families:
            check_task(task, family, prefix)
    fields = parsed.model_dump(exclude={"settings", "task"})
    return Matrix(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}, settings=settings,
                  knobs=knobs, task=task)


def check_task(task: TaskSpec, family, prefix: str = "") -> None:
    """Before any work: the task's data exists, parses, and its labels are ones `family` can predict."""
    if family.framework != "torch":
        raise ConfigError(f"{prefix}task: {family.name} is a decision tree; its quality is measured by `harness trees`")
    if task.name == "teacher":
        return
    if family.kind != "text":
        raise ConfigError(f"{prefix}task {task.name} is text but model {family.name!r} is an {family.kind} model; "
                          "use --task teacher (agreement with the dense model on generated inputs)")
    try:
        eval_examples(task, int(family.num_labels), getattr(family, "id2label", None))
    except HarnessError as exc:
        raise ConfigError(f"{prefix}{exc}") from None


def _flag(flags: dict | None, key: str) -> str:
    return (flags or {}).get(key, key)


def check_scenario_settings(scenario: str, settings: Settings, prefix: str = "", flags: dict | None = None) -> None:
    """settings.sla_ms only where the scenario reads it, and always there (the server scenario's p99 target)."""
    sla = _flag(flags, "settings.sla_ms")
    if settings.sla_ms is not None and scenario not in SLA_SCENARIOS:
        raise ConfigError(f"{prefix}{sla} is set but scenario is {scenario}; it is the p99 latency target of the "
                          f"{' and '.join(SLA_SCENARIOS)} scenario ({_flag(flags, 'scenario')} server)")
    if scenario in SLA_SCENARIOS and settings.sla_ms is None:
        raise ConfigError(f"{prefix}{_flag(flags, 'scenario')} {scenario} needs {sla} (the p99 latency target)")


def split_settings(values: dict, backends, where: str | None = None, flags: dict | None = None) -> tuple[Settings, dict]:
    """(measurement Settings, backend knobs) from one `settings:` mapping; every knob must belong to at least
    one of `backends`, and each backend's knobs must pass its own Settings."""
    flags = flags or {}
    prefix = f"{where}: " if where else ""
    given = validate(settings_model(), values, where, lambda loc: flags.get(f"settings.{loc[0]}") or f"settings.{loc[0]}")
    given = given.model_dump(exclude_none=True)
    measurement_names = {f.name for f in dataclasses.fields(Settings)}
    knobs = {k: v for k, v in given.items() if k not in measurement_names}
    for knob in knobs:
        owners = backend_knobs()[knob]
        if not set(owners) & set(backends):
            name = flags.get(f"settings.{knob}") or f"settings.{knob}"
            raise ConfigError(f"{prefix}{name}: a setting of backend {', '.join(owners)}, which is not among the "
                              f"backends to run ({', '.join(backends)})")
    try:
        settings = Settings(**{k: v for k, v in given.items() if k in measurement_names})
        for backend in backends:
            backend_class(backend).parse_settings(backend_settings_for(backend, knobs), "settings")
    except RecordError as exc:
        raise ConfigError(f"{prefix}{_named(str(exc), flags)}") from None
    return settings, knobs


def _named(message: str, flags: dict) -> str:
    """A Settings message ("settings.min_iters: ...") naming the flags that set the fields it names, where flags did."""
    for path, flag in flags.items():
        if "." in path:  # a whole field path: settings.loadgen is not the start of settings.loadgen_min_queries
            message = re.sub(rf"(?<![\w.]){re.escape(path)}(?![\w.])", flag, message)
    return message


def backend_settings_for(backend: str, knobs: dict) -> dict:
    """The knobs `backend` declares, at values other than its defaults."""
    declared = {f.name: f for f in dataclasses.fields(backend_class(backend).Settings)}
    return {k: v for k, v in knobs.items() if k in declared and v != declared[k].default}


def expand(matrix: Matrix) -> list[BenchConfig]:
    """The product of the matrix's lists, in a stable order; models without a sequence axis (images,
    trees) ignore seq_lens, use their own input size, and run once per batch size."""
    configs: list[BenchConfig] = []
    seen = set()
    instance_type = matching_instance_type() if matrix.instance_type == MATCH else matrix.instance_type
    sources = [(m, None) for m in matrix.models] + [(checkpoint_family(c).name, c) for c in matrix.checkpoints]
    families = {source: family_for(*source) for source in sources}
    for (model, checkpoint), variant, backend, threads, batch, seq, precision, kernel in itertools.product(
        sources, matrix.variants, matrix.backends, matrix.threads, matrix.batch_sizes, matrix.seq_lens or (None,),
        matrix.precisions, matrix.kernels,
    ):
        family = families[(model, checkpoint)]
        if family.kind != "text" or seq is None:  # images have one input size, trees one feature count
            seq = family.default_seq_len
        elif family.max_seq_len() is not None and seq > family.max_seq_len():
            raise ConfigError(f"seq_lens: {seq} is longer than model {model!r} accepts ({family.max_seq_len()} positions)")
        cfg = BenchConfig(
            model=model, backend=backend, batch_size=batch, seq_len=seq, threads=threads, precision=precision,
            kernel=kernel, variant=variant, checkpoint=checkpoint, scenario=matrix.scenario,
            instance_type=instance_type, settings=matrix.settings,
            backend_settings=matrix.backend_settings(backend), task=matrix.task,
        )
        key = cfg.config_hash(variant)
        if key not in seen:
            seen.add(key)
            configs.append(cfg)
    return configs


def check_size(parsed: MatrixFile, prefix: str = "") -> None:
    """The product of the matrix's lists stays within MAX_CONFIGURATIONS (before any of it is built)."""
    lists = ("variants", "backends", "threads", "batch_sizes", "seq_lens", "precisions", "kernels")
    total = len(parsed.models) + len(parsed.checkpoints)
    for name in lists:
        total *= max(1, len(getattr(parsed, name)))
    if total > MAX_CONFIGURATIONS:
        raise ConfigError(f"{prefix}the matrix has {total:,} configurations (models x {' x '.join(lists)}); the harness "
                          f"runs at most {MAX_CONFIGURATIONS:,} from one matrix: split it")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'i/n' (1-based) -> (i, n); 'auto' reads it from the scheduler's environment (harness.foundation.scheduler_env)."""
    if not text:
        return None
    if text == "auto":
        return shard_from_env()
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard: expected i/n such as 1/4, or auto, got {short(text)}") from None
    if n < 1 or not 1 <= i <= n:
        raise ConfigError(f"--shard: need 1 <= i <= n, got {short(text)}")
    return i, n


def shard(configs: list[BenchConfig], spec: tuple[int, int] | None) -> list[BenchConfig]:
    """Deterministic, balanced partition whatever the matrix's order: the configurations sorted by their hash are
    dealt round-robin, so shard sizes differ by at most one (every shard expands the same matrix)."""
    if spec is None:
        return configs
    i, n = spec
    ranked = sorted(range(len(configs)), key=lambda k: configs[k].config_hash(configs[k].variant))
    mine = {k for rank, k in enumerate(ranked) if rank % n == i - 1}
    return [c for k, c in enumerate(configs) if k in mine]


MATCH = "match"  # instance_type: match, the catalogue's CPU type that matches the CPU measuring


def matching_instance_type() -> str:
    """The catalogue's CPU instance type closest to this machine (vendor, ISA classes, logical CPUs: a Milan with
    AVX2 prices as c6a, a Genoa with AVX-512 and VNNI as c7a), so that a record is priced as the CPU that measured."""
    fp = fingerprint()
    match = matching_instance(all_instances(), architecture=fp.get("architecture"), vendor_id=fp.get("cpu_vendor"),
                              flags=fp.get("isa_flags") or (), logical_cpus=fp.get("logical_cpus"))
    if match is None:
        isa = " ".join(isa_classes(fp.get("isa_flags") or ())) or "no ISA flags read"
        raise ConfigError(f"instance_type: {MATCH}: no catalogue CPU type matches this machine ({fp.get('cpu_model')}, "
                          f"{isa}); declare instance_type (see `harness prices show`)")
    return match.name
