"""What a nightly run measures: the suites, validated on construction, and the one the environment selects.

A suite is the product models x variants x backends x threads x batch sizes, with the measurement
settings every configuration of it uses. Suites are defined here (SUITES); asv's benchmark processes
pick one through the environment (selected_suite), which `harness nightly` sets.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, InstanceOf, PositiveFloat, PositiveInt

from harness.backends.registry import USER_BACKENDS
from harness.contracts import Settings
from harness.foundation.errors import ConfigError, choices_error
from harness.foundation.validation import validate
from harness.models.registry import MODELS, model_family
from harness.pricing import validate_instance_name, validate_region

PARAM_NAMES = ("model", "variant", "backend", "threads", "batch")  # asv's parameters, in order
DEFAULT_REGION = "us-east-2"
VARIANT_FORMS = "dense, magnitude-NN (NN = 1..99, percent zeros)"

_VARIANT_RE = re.compile(r"^magnitude-(\d{1,2})$")


def parse_variant(spec: str) -> float | None:
    """The target sparsity of a suite variant name: "dense" -> None, "magnitude-80" -> 0.8."""
    if spec == "dense":
        return None
    m = _VARIANT_RE.match(spec) if isinstance(spec, str) else None
    if not m or not 1 <= int(m.group(1)) <= 99:
        raise ConfigError(f"{spec!r} is not a suite variant name; valid: {VARIANT_FORMS}")
    return int(m.group(1)) / 100.0


def _variant_name(spec: str) -> str:
    try:
        parse_variant(spec)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return spec


Model = Literal[tuple(MODELS)]  # type: ignore[valid-type]
Backend = Literal[USER_BACKENDS]  # type: ignore[valid-type]
VariantName = Annotated[str, AfterValidator(_variant_name)]


class Suite(BaseModel):
    """A suite, checked field by field (make_suite turns a problem into a one-line ConfigError)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    models: tuple[Model, ...] = Field(min_length=1)
    variants: tuple[VariantName, ...] = Field(min_length=1)  # "dense" or "magnitude-NN": one-shot global unstructured magnitude
    backends: tuple[Backend, ...] = Field(min_length=1)
    threads: tuple[PositiveInt, ...] = Field(min_length=1)
    batch_sizes: tuple[PositiveInt, ...] = Field(min_length=1)
    seq_len: PositiveInt | None = None  # None: each model's default (text: tokens, image: side)
    settings: InstanceOf[Settings] = Field(default_factory=Settings)  # Settings checks itself when made
    timeout_s: PositiveFloat = 3600.0  # asv's limit for the whole measurement (setup_cache)
    instance_type: str | None = None  # the instance type records declare; None: undeclared (no $/1M)
    region: str = DEFAULT_REGION

    def asv_params(self) -> list[list]:
        return [list(self.models), list(self.variants), list(self.backends), list(self.threads), list(self.batch_sizes)]

    def keys(self) -> list[tuple]:
        """Every (model, variant, backend, threads, batch) combination, in asv's parameter order."""
        return list(itertools.product(self.models, self.variants, self.backends, self.threads, self.batch_sizes))

    def seq_for(self, model: str) -> int:
        return self.seq_len or model_family(model).default_seq_len


def make_suite(**fields) -> Suite:
    """A validated Suite; a ConfigError naming the suite, the field, the value and what is allowed otherwise."""
    return validate(Suite, fields, f"suite {fields.get('name', '?')}")


SUITES = {
    # the nightly job: the dense zoo and one pruned variant of each, on every CPU backend
    "nightly": make_suite(
        name="nightly",
        models=("bert-base", "distilbert", "minilm", "resnet50"),
        variants=("dense", "magnitude-80"),
        backends=("torch", "onnxruntime", "openvino", "deepsparse"),
        threads=(1, 2),
        batch_sizes=(1, 8),
        settings=Settings(warmup_iters=5, warmup_s=1.0, min_iters=50, min_duration_s=5.0, timeout_s=900.0),
        timeout_s=6 * 3600.0,
    ),
    # CI: a tiny model, two backends, about a second per configuration; exercises the whole asv path.
    # 400 calls: enough samples for a p99 with a 95% interval (harness.foundation.stats needs 368), so every track has a number
    "quick": make_suite(
        name="quick",
        models=("bert-tiny",),
        variants=("dense", "magnitude-50"),
        backends=("torch", "onnxruntime"),
        threads=(1,),
        batch_sizes=(1,),
        seq_len=16,
        settings=Settings(warmup_iters=2, warmup_s=0.0, min_iters=400, min_duration_s=0.3, timeout_s=120.0),
        timeout_s=900.0,
    ),
}


def selected_suite(environ=None) -> Suite:
    """The suite named by HARNESS_ASV_SUITE (or quick when HARNESS_ASV_QUICK=1), with env overrides applied:
    HARNESS_ASV_INSTANCE_TYPE and HARNESS_ASV_REGION."""
    env = os.environ if environ is None else environ
    name = env.get("HARNESS_ASV_SUITE") or ("quick" if env.get("HARNESS_ASV_QUICK", "") not in ("", "0") else "nightly")
    if name not in SUITES:
        raise choices_error("HARNESS_ASV_SUITE", name, SUITES)
    changes = {}
    if env.get("HARNESS_ASV_INSTANCE_TYPE"):
        changes["instance_type"] = validate_instance_name(env["HARNESS_ASV_INSTANCE_TYPE"], "HARNESS_ASV_INSTANCE_TYPE")
    if env.get("HARNESS_ASV_REGION"):
        changes["region"] = validate_region(env["HARNESS_ASV_REGION"], "HARNESS_ASV_REGION")
    return SUITES[name].model_copy(update=changes)
