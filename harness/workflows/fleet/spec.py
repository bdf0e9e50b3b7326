"""The inputs of a fleet run, validated once, before anything is written or submitted.

A fleet is one matrix, a list of instance types, a shard count N (one machine per shard and instance
type) and an s3:// results URL every child pushes to. Names follow the stricter of the schedulers'
rules: a Kubernetes Job name is a DNS-1123 label of at most 63 characters; AWS Batch names allow 128
letters, digits, hyphens and underscores.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from harness.foundation.errors import ConfigError
from harness.measure.matrix import Matrix
from harness.pricing.catalog import InstanceType, lookup
from harness.results.sync import parse_s3_url

MAX_SHARDS = 10_000  # AWS Batch: an array job has 2..10,000 children (one shard is a plain job)
MAX_MATRIX_BYTES = 16_384  # the matrix travels in the job's environment; keep it well inside API limits
MAX_RETRIES = 9  # AWS Batch retryStrategy.attempts is 1..10
MIN_TIMEOUT_S = 60  # AWS Batch attemptDurationSeconds minimum
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUEUE_RE = re.compile(r"^([A-Za-z0-9_-]{1,128}|arn:aws[a-z-]*:batch:[a-z0-9-]+:\d{12}:job-queue/[A-Za-z0-9_-]{1,128})$")
K8S_NAME_MAX = 63


@dataclass(frozen=True)
class FleetSpec:
    name: str  # prefix of every job name: <name>-<instance type with dots as hyphens>
    matrix: Matrix  # the validated matrix; each child runs its shard of it
    instance_types: tuple[str, ...]
    shards: int
    results: str  # s3://bucket/prefix
    image: str
    gpu_image: str | None = None  # image for GPU instance types (a CUDA build of torch); default `image`
    job_queue: str = "harness-{instance}"  # AWS Batch queue; {instance} -> c7a-large
    job_role_arn: str | None = None  # the role the container runs as (S3 access); see docs/fleet.md
    retries: int = 1
    timeout_s: int | None = 6 * 3600
    namespace: str = "default"
    service_account: str | None = None

    def entry(self, instance: str) -> InstanceType:
        return lookup(instance)

    def image_for(self, instance: str) -> str:
        return (self.gpu_image or self.image) if lookup(instance).is_gpu else self.image

    def job_name(self, instance: str) -> str:
        return f"{self.name}-{slug(instance)}"

    def queue_for(self, instance: str) -> str:
        return self.job_queue.replace("{instance}", slug(instance))

    def matrix_json(self) -> str:
        return json.dumps(self.matrix.to_mapping(), sort_keys=True, separators=(",", ":"))


def slug(instance: str) -> str:
    """c7a.large -> c7a-large (a name part both schedulers accept)."""
    return instance.replace(".", "-")


def parse_instance_types(text: str) -> tuple[str, ...]:
    """'c7a.large,c7i.xlarge' -> the catalogue's entries; an unknown type is one line naming close ones."""
    items = tuple(dict.fromkeys(s.strip() for s in str(text or "").split(",") if s.strip()))
    if not items:
        raise ConfigError("--instance-types: give at least one instance type, e.g. c7a.large,c7i.xlarge")
    for item in items:
        try:
            lookup(item)
        except ConfigError as exc:
            raise ConfigError(f"--instance-types: {exc}") from None
    return items


def default_name(matrix: Matrix) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", str(matrix.name or "fleet").lower()).strip("-") or "fleet"
    return f"harness-{base}"[:40].rstrip("-")


def validate(spec: FleetSpec) -> FleetSpec:
    """Every check `plan` and `submit` rely on; the first problem is one ConfigError line."""
    for instance in spec.instance_types:
        lookup(instance)
    if isinstance(spec.shards, bool) or not isinstance(spec.shards, int) or not 1 <= spec.shards <= MAX_SHARDS:
        raise ConfigError(f"--shards: need an integer 1..{MAX_SHARDS} (one machine per shard), got {spec.shards!r}")
    bucket, _ = parse_s3_url(spec.results)
    if not bucket:
        raise ConfigError(f"--results: expected an s3://bucket/prefix URL, got {spec.results!r}")
    _validate_names(spec)
    if not 0 <= spec.retries <= MAX_RETRIES:
        raise ConfigError(f"--retries: need 0..{MAX_RETRIES}, got {spec.retries}")
    if spec.timeout_s is not None and spec.timeout_s < MIN_TIMEOUT_S:
        raise ConfigError(f"--timeout-min: AWS Batch needs at least {MIN_TIMEOUT_S} s, got {spec.timeout_s} s")
    for image in (spec.image, spec.gpu_image):
        if image is not None and (not image or any(c.isspace() for c in image)):
            raise ConfigError(f"--image: {image!r} is not an image reference such as "
                              "123456789012.dkr.ecr.us-east-2.amazonaws.com/harness:1")
    size = len(spec.matrix_json().encode())
    if size > MAX_MATRIX_BYTES:
        raise ConfigError(f"matrix: {size} bytes as JSON is more than the {MAX_MATRIX_BYTES} a job environment "
                          "carries here; split it")
    return spec


def _validate_names(spec: FleetSpec) -> None:
    if not _NAME_RE.match(spec.name):
        raise ConfigError(f"--name: {spec.name!r} must be lower-case letters, digits and hyphens (a DNS label)")
    longest = max((spec.job_name(i) for i in spec.instance_types), key=len)
    if len(longest) > K8S_NAME_MAX:
        raise ConfigError(f"--name: job name {longest!r} is {len(longest)} characters; Kubernetes allows {K8S_NAME_MAX}")
    if re.search(r"[{}]", spec.job_queue.replace("{instance}", "")):
        raise ConfigError(f"--job-queue: {spec.job_queue!r}: the only placeholder is {{instance}}")
    for instance in spec.instance_types:
        if not _QUEUE_RE.match(spec.queue_for(instance)):
            raise ConfigError(f"--job-queue: {spec.queue_for(instance)!r} is not an AWS Batch queue name or ARN")
    if spec.job_role_arn and not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$", spec.job_role_arn):
        raise ConfigError(f"--job-role-arn: {spec.job_role_arn!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)")
    if not _NAME_RE.match(spec.namespace):
        raise ConfigError(f"--namespace: {spec.namespace!r} is not a Kubernetes namespace name")
