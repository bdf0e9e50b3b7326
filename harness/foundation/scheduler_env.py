"""`--shard auto`: which shard this process is, read from the scheduler's environment.

Both schedulers number children from 0; our shards are 1-based `i/n`, so index k is shard k+1.
  AWS Batch array job      AWS_BATCH_JOB_ARRAY_INDEX (set by Batch in each child), AWS_BATCH_JOB_ARRAY_SIZE
                           (set by Batch too), AWS_BATCH_JOB_ID = "<parent id>:<index>"
  Kubernetes Indexed Job   JOB_COMPLETION_INDEX (set by the Job controller in each pod)
The shard count always comes from HARNESS_SHARD_COUNT, which the job passes explicitly (`harness fleet
plan` writes it next to the array size / completion count) and which is checked against every other
source that is present. A count of 1 needs no index (AWS Batch arrays have at least 2 children, so a
one-shard fleet is a plain job). Anything missing or inconsistent is one ConfigError line.

This module imports nothing from the harness but errors: harness.measure.matrix calls it for `--shard auto`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigError

COUNT_VAR = "HARNESS_SHARD_COUNT"
BATCH_INDEX = "AWS_BATCH_JOB_ARRAY_INDEX"
BATCH_SIZE = "AWS_BATCH_JOB_ARRAY_SIZE"
BATCH_JOB_ID = "AWS_BATCH_JOB_ID"
K8S_INDEX = "JOB_COMPLETION_INDEX"
INDEX_VARS = (BATCH_INDEX, K8S_INDEX)


def shard_from_env(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(i, n), 1-based, for this child of an AWS Batch array job or a Kubernetes Indexed Job."""
    env = os.environ if env is None else env
    count = _shard_count(env)
    return _shard_index(env, count) + 1, count


def _read_int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    raw = env.get(name)
    if raw is None or not str(raw).strip():
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"--shard auto: {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"--shard auto: {name}={raw!r} must be >= {minimum}")
    return value


def _shard_count(env: Mapping[str, str]) -> int:
    count = _read_int(env, COUNT_VAR, 1)
    if count is None:
        raise ConfigError(
            f"--shard auto: {COUNT_VAR} is not set; the job must pass its array size or completion count "
            "(`harness fleet plan` writes it), or give --shard i/n"
        )
    size = _read_int(env, BATCH_SIZE, 1)
    if size is not None and size != count:
        raise ConfigError(f"--shard auto: {COUNT_VAR}={count} but {BATCH_SIZE}={size}; the job was edited inconsistently")
    return count


def _shard_index(env: Mapping[str, str], count: int) -> int:
    found = {name: value for name in INDEX_VARS if (value := _read_int(env, name, 0)) is not None}
    if len(set(found.values())) > 1:
        listed = " and ".join(f"{k}={v}" for k, v in found.items())
        raise ConfigError(f"--shard auto: {listed} disagree")
    if not found:
        if count == 1:
            return 0
        raise ConfigError(
            f"--shard auto: {COUNT_VAR}={count} but neither {BATCH_INDEX} nor {K8S_INDEX} is set; run inside an "
            "AWS Batch array job or a Kubernetes Indexed Job, or give --shard i/n"
        )
    name, index = next(iter(found.items()))
    if index >= count:
        raise ConfigError(f"--shard auto: {name}={index} is outside 0..{count - 1} ({COUNT_VAR}={count})")
    _check_batch_job_id(env, index)
    return index


def _check_batch_job_id(env: Mapping[str, str], index: int) -> None:
    """An array child's job id ends in ':<index>'; a different suffix means the environment was tampered with."""
    job_id = str(env.get(BATCH_JOB_ID) or "")
    _, sep, suffix = job_id.rpartition(":")
    if sep and suffix.isdigit() and int(suffix) != index:
        raise ConfigError(f"--shard auto: {BATCH_JOB_ID}={job_id!r} names child {suffix}, but the index is {index}")
