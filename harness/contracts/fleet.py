"""The files `harness fleet` writes into a plan directory and reads back (harness.workflows.fleet).

  FleetPlan    OUT/fleet.json: what was planned and where each instance type's scheduler files are
  Submissions  OUT/submitted.json: the AWS Batch jobs `harness fleet submit` started (read by wait and collect)

The scheduler files themselves (batch/*.json, kubernetes/*.yaml) are the schedulers' own request formats,
checked against botocore's model and the Kubernetes client models, not versioned here.

Version history:
  FleetPlan 1    name, shards, results (s3:// URL), matrix (a matrix mapping, harness.measure.matrix),
                 instance_types {type: {job_definition, submit_job, kubernetes}: paths relative to the plan}.
  Submissions 1  a bare JSON list of {instance_type, job_name, job_id, job_queue, size}, without a version.
  Submissions 2  {schema_version, jobs: [the same rows]}: the list gained a version (migration: _wrap_rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .codec import Contract, RecordError, Versioned, _positive_int


@dataclass(frozen=True)
class PlanFiles(Contract):
    """One instance type's files, relative to the plan directory."""

    job_definition: str
    submit_job: str
    kubernetes: str


@dataclass(frozen=True)
class FleetPlan(Versioned):
    SCHEMA_VERSION = 1

    name: str
    shards: int
    results: str
    matrix: dict[str, Any]  # validated by harness.measure.matrix.validate_matrix where it is used
    instance_types: dict[str, PlanFiles]
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        _positive_int("shards", self.shards)
        if not self.instance_types:
            raise RecordError("instance_types: no instance types planned")


@dataclass(frozen=True)
class SubmittedJob(Contract):
    """One array job (or single job) AWS Batch accepted."""

    instance_type: str
    job_name: str
    job_id: str
    job_queue: str
    size: int  # child jobs (1: a job without arrayProperties)


def _wrap_rows(rows) -> dict:
    return {"jobs": rows}


@dataclass(frozen=True)
class Submissions(Versioned):
    SCHEMA_VERSION = 2
    MIGRATIONS = {1: _wrap_rows}

    jobs: tuple[SubmittedJob, ...]
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def version_of(cls, data) -> int:
        return 1 if isinstance(data, list) else super().version_of(data)
