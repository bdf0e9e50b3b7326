"""AWS Batch request shapes for one instance type: what boto3's register_job_definition and submit_job take.

The job definition holds what does not change between runs of the fleet: the image, the command
(`harness fleet worker --shard auto --results URL --instance-type T`), the resources (all the
instance's vCPUs, so Batch places one child per machine, and its GPUs), the matrix and the instance
type in the environment, retries and a timeout. The submission holds the array size N and, next to
it, HARNESS_SHARD_COUNT=N, which `--shard auto` checks against Batch's own AWS_BATCH_JOB_ARRAY_SIZE.
An instance type is chosen by its job queue: each queue's compute environment has that one type.

`check_request` validates a request against botocore's service model (no network), so a hand-edited
plan fails before the first call, in one line.
"""

from __future__ import annotations

from harness.foundation.errors import ConfigError
from harness.foundation.scheduler_env import COUNT_VAR

from .spec import FleetSpec

INSTANCE_VAR = "HARNESS_INSTANCE_TYPE"
MATRIX_VAR = "HARNESS_FLEET_MATRIX"
MEMORY_FRACTION = 0.85  # of the instance's memory: the ECS agent and the OS keep the rest
TAG_KEY = "harness:fleet"


def memory_mib(memory_gib: float) -> int:
    """The container's memory in MiB: a share of the instance's that Batch can still place on it."""
    return int(memory_gib * 1024 * MEMORY_FRACTION)


def worker_command(spec: FleetSpec, instance: str) -> list[str]:
    """Arguments to the image's entry point (`harness`): run this child's shard, then push."""
    return ["fleet", "worker", "--shard", "auto", "--instance-type", instance, "--results", spec.results]


def environment(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in pairs.items()]


def job_definition(spec: FleetSpec, instance: str) -> dict:
    """The register_job_definition request for `instance`."""
    entry = spec.entry(instance)
    resources = [{"type": "VCPU", "value": str(entry.vcpu)}, {"type": "MEMORY", "value": str(memory_mib(entry.memory_gib))}]
    if entry.is_gpu:
        resources.append({"type": "GPU", "value": str(entry.gpu_count)})
    container = {
        "image": spec.image_for(instance),
        "command": worker_command(spec, instance),
        "resourceRequirements": resources,
        "environment": environment({INSTANCE_VAR: instance, MATRIX_VAR: spec.matrix_json()}),
    }
    if spec.job_role_arn:
        container["jobRoleArn"] = spec.job_role_arn
    request = {
        "jobDefinitionName": spec.job_name(instance),
        "type": "container",
        "platformCapabilities": ["EC2"],
        "containerProperties": container,
        "retryStrategy": {"attempts": spec.retries + 1},
        "propagateTags": True,
        "tags": {TAG_KEY: spec.name, "harness:instance-type": instance},
    }
    if spec.timeout_s:
        request["timeout"] = {"attemptDurationSeconds": int(spec.timeout_s)}
    return request


def submit_job(spec: FleetSpec, instance: str) -> dict:
    """The submit_job request for `instance`: an array of N children (a plain job when N is 1)."""
    request = {
        "jobName": spec.job_name(instance),
        "jobQueue": spec.queue_for(instance),
        "jobDefinition": spec.job_name(instance),  # `fleet submit` replaces it with the registered revision's ARN
        "containerOverrides": {"environment": environment({COUNT_VAR: str(spec.shards)})},
        "propagateTags": True,
        "tags": {TAG_KEY: spec.name, "harness:instance-type": instance},
    }
    if spec.shards > 1:
        request["arrayProperties"] = {"size": spec.shards}
    return request


def env_value(pairs: list | None, name: str) -> str | None:
    """The value of `name` in a Batch environment list, or None."""
    for item in pairs or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item.get("value")
    return None


def check_request(operation: str, params: dict, where: str) -> None:
    """Validate `params` against botocore's model of the Batch operation (e.g. 'RegisterJobDefinition')."""
    import botocore.session
    from botocore.validate import ParamValidator

    if not isinstance(params, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(params).__name__}")
    shape = botocore.session.get_session().get_service_model("batch").operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        detail = " ".join(report.generate_report().split())
        raise ConfigError(f"{where}: not a valid {operation} request: {detail}")
