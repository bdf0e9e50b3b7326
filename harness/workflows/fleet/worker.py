"""What one child of a fleet runs inside the container: its shard of the matrix, then a push to S3.

The matrix comes from a file or, in a scheduled job, from HARNESS_FLEET_MATRIX (JSON, written by
`harness fleet plan`), so the image does not need to contain it. The instance type is declared on
every record (it is the job's, not guessed from the CPU). Records are pushed even when the run stops
on an error, so what was measured is never lost; a configuration that fails is a record, not an error.
"""

from __future__ import annotations

import dataclasses
import json
import os

from harness.foundation.errors import ConfigError, HarnessError
from harness.pricing.catalog import lookup
from harness.results import sync
from harness.results.sync import parse_s3_url

from .batch import INSTANCE_VAR, MATRIX_VAR


def matrix_from(path: str | None, env=None):
    """The validated matrix from `path`, else from $HARNESS_FLEET_MATRIX."""
    from harness.measure.matrix import load_matrix, validate_matrix

    if path:
        return load_matrix(path)
    env = os.environ if env is None else env
    text = env.get(MATRIX_VAR)
    if not text:
        raise ConfigError(f"fleet worker: give a MATRIX file or set {MATRIX_VAR} (the job from `harness fleet plan` does)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{MATRIX_VAR}: not JSON ({exc.msg} at character {exc.pos})") from None
    return validate_matrix(data, MATRIX_VAR)


def check_instance_env(instance_type: str, env=None) -> None:
    """The job's HARNESS_INSTANCE_TYPE, when set, must be the --instance-type it runs with."""
    env = os.environ if env is None else env
    declared = env.get(INSTANCE_VAR)
    if declared and declared != instance_type:
        raise ConfigError(f"fleet worker: --instance-type {instance_type} but {INSTANCE_VAR}={declared}; "
                          "the job was edited inconsistently")


def run_shard(matrix, instance_type: str, results_url: str, *, shard_text: str = "auto", root=None,
              endpoint_url: str | None = None, run=None, push=None, echo=print) -> dict:
    """Run this child's shard on `instance_type`, push the records; returns {'shard', 'configs', 'pushed'}."""
    from harness.measure.matrix import expand, parse_shard, shard

    lookup(instance_type)
    parse_s3_url(results_url)  # a bad URL fails before an hour of measuring, not after
    if run is None:
        from harness.measure.bench import run_configs as run
    if push is None:
        push = sync.push
    spec = parse_shard(shard_text) or (1, 1)
    configs = shard(expand(dataclasses.replace(matrix, instance_type=instance_type)), spec)
    echo(f"harness fleet worker: shard {spec[0]}/{spec[1]} on {instance_type}: {len(configs)} configuration(s)")
    failure = None
    try:
        run(configs, root=root, force=False, progress=False)
    except HarnessError as exc:
        failure = exc
    pushed = push(results_url, root, endpoint_url=endpoint_url)
    echo(f"harness fleet worker: pushed {sum(pushed.values())} new record(s) to {results_url}")
    if failure is not None:
        raise failure
    return {"shard": spec, "configs": len(configs), "pushed": sum(pushed.values())}
