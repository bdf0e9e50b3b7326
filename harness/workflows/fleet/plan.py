"""Write a fleet's scheduler files, and read them back (validated) for `harness fleet submit`.

    OUT/fleet.json                               what was planned, and where each file is (FleetPlan)
    OUT/batch/<type>.job-definition.json         boto3 batch.register_job_definition(**this)
    OUT/batch/<type>.submit-job.json             boto3 batch.submit_job(**this)
    OUT/kubernetes/<type>.yaml                   kubectl apply -f this

The files are meant to be read and edited before submitting; `read_batch_plan` therefore checks them
again (shapes against botocore's model, instance types, shard counts, results URL) and refuses the
whole plan on the first problem, before any call is made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import FleetPlan, PlanFiles, RecordError
from harness.foundation.errors import ConfigError
from harness.foundation.fsutil import atomic_write_dir
from harness.foundation.scheduler_env import COUNT_VAR
from harness.pricing.catalog import lookup
from harness.results.sync import parse_s3_url

from . import batch, kubernetes
from .spec import FleetSpec, slug, validate

PLAN_FILE = "fleet.json"


@dataclass(frozen=True)
class BatchJob:
    """One instance type's pair of requests, as read from a plan."""

    instance_type: str
    job_definition: dict
    submit_job: dict

    @property
    def size(self) -> int:
        return int((self.submit_job.get("arrayProperties") or {}).get("size") or 1)


def write_plan(spec: FleetSpec, out_dir) -> dict[str, Path]:
    """Write every file for every instance type; returns {label: path}. The plan is written beside `out_dir` and
    renamed into place: an earlier plan there is replaced whole, never mixed with this one."""
    validate(spec)
    out = Path(out_dir)
    paths: dict[str, Path] = {}

    def fill(tmp: Path) -> None:
        (tmp / "batch").mkdir()
        (tmp / "kubernetes").mkdir()
        planned: dict[str, PlanFiles] = {}
        for instance in spec.instance_types:
            files = PlanFiles(job_definition=f"batch/{slug(instance)}.job-definition.json",
                              submit_job=f"batch/{slug(instance)}.submit-job.json",
                              kubernetes=f"kubernetes/{slug(instance)}.yaml")
            _write_json(tmp / files.job_definition, batch.job_definition(spec, instance))
            _write_json(tmp / files.submit_job, batch.submit_job(spec, instance))
            (tmp / files.kubernetes).write_text(kubernetes.to_yaml(kubernetes.indexed_job(spec, instance)),
                                                encoding="utf-8")
            planned[instance] = files
            paths.update({f"{instance} {k}": out / v for k, v in files.to_json().items()})
        index = FleetPlan(name=spec.name, shards=spec.shards, results=spec.results, matrix=spec.matrix.to_mapping(),
                          instance_types=planned)
        _write_json(tmp / PLAN_FILE, index.to_json())
        paths["plan"] = out / PLAN_FILE

    atomic_write_dir(out, fill)
    return paths


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found; run `harness fleet plan` first")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: {what} is not readable JSON ({exc})") from None


def read_index(plan_dir) -> FleetPlan:
    path = Path(plan_dir) / PLAN_FILE
    try:
        return FleetPlan.from_json(_read_json(path, "plan index"))
    except RecordError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def read_batch_plan(plan_dir) -> list[BatchJob]:
    """Every instance type's Batch requests, each checked; the first problem is one ConfigError line."""
    plan_dir = Path(plan_dir)
    jobs = []
    for instance, files in read_index(plan_dir).instance_types.items():
        definition = _read_json(plan_dir / files.job_definition, f"{instance} job definition")
        submission = _read_json(plan_dir / files.submit_job, f"{instance} submission")
        job = BatchJob(instance, definition, submission)
        check_batch_job(job, plan_dir)
        jobs.append(job)
    return jobs


def check_batch_job(job: BatchJob, where) -> None:
    """Shapes, then what the shapes cannot say: the type exists, N agrees, the command pushes to s3://."""
    label = f"{where}: {job.instance_type}"
    batch.check_request("RegisterJobDefinition", job.job_definition, f"{label} job definition")
    batch.check_request("SubmitJob", job.submit_job, f"{label} submission")
    lookup(job.instance_type)
    container = job.job_definition.get("containerProperties") or {}
    if batch.env_value(container.get("environment"), batch.INSTANCE_VAR) != job.instance_type:
        raise ConfigError(f"{label}: job definition's {batch.INSTANCE_VAR} is not {job.instance_type!r}")
    if job.submit_job["jobDefinition"] != job.job_definition["jobDefinitionName"]:
        raise ConfigError(f"{label}: submission names job definition {job.submit_job['jobDefinition']!r}, "
                          f"the plan registers {job.job_definition['jobDefinitionName']!r}")
    if "arrayProperties" in job.submit_job and not 2 <= job.size <= 10_000:
        raise ConfigError(f"{label}: arrayProperties.size {job.size} outside 2..10000 "
                          "(one shard is a job without arrayProperties)")
    count = batch.env_value((job.submit_job.get("containerOverrides") or {}).get("environment"), COUNT_VAR)
    if count != str(job.size):
        raise ConfigError(f"{label}: {COUNT_VAR}={count!r} but the array size is {job.size}; edit both together")
    command = list(container.get("command") or [])
    url = command[command.index("--results") + 1] if "--results" in command[:-1] else None
    try:
        parse_s3_url(url or "")
    except ConfigError:
        raise ConfigError(f"{label}: the container command's --results must be an s3://bucket/prefix URL, got {url!r}") from None
