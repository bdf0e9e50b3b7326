"""Fleet runs: `--shard auto` under AWS Batch and Kubernetes, `harness fleet plan` (Batch request shapes
checked against botocore's model, Kubernetes manifests deserialised into the official client's V1Job),
bad input as one line, and the in-container worker."""

from __future__ import annotations

import collections
import dataclasses
import json

import pytest
import yaml

from harness.cli import main
from harness.foundation.errors import ConfigError, HarnessError
from harness.foundation.scheduler_env import shard_from_env
from harness.measure.matrix import expand, parse_shard, shard, validate_matrix
from harness.workflows.fleet import batch
from harness.workflows.fleet.plan import read_batch_plan
from harness.workflows.fleet.worker import check_instance_env, matrix_from, run_shard

MATRIX = {"name": "nightly", "models": ["bert-tiny"], "backends": ["torch", "onnxruntime", "openvino"],
          "threads": [1, 2, 3, 4], "batch_sizes": [1, 2, 4], "seq_lens": [16, 32]}
TYPES = ("c7a.large", "c7g.xlarge", "g4dn.xlarge")


def hashes(configs):
    return [c.config_hash(c.variant) for c in configs]


def batch_env(k, n):
    env = {"HARNESS_SHARD_COUNT": str(n)}
    if n > 1:  # a one-shard fleet is a plain Batch job: no array variables
        env.update(AWS_BATCH_JOB_ARRAY_INDEX=str(k), AWS_BATCH_JOB_ARRAY_SIZE=str(n), AWS_BATCH_JOB_ID=f"4f1c-9a:{k}")
    return env


def k8s_env(k, n):
    return {"HARNESS_SHARD_COUNT": str(n), "JOB_COMPLETION_INDEX": str(k)}


# ------------------------------------------------------------------------------------------------ --shard auto


@pytest.mark.parametrize("make_env", [batch_env, k8s_env], ids=["aws-batch", "kubernetes"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_shard_auto_covers_every_configuration_exactly_once(make_env, n, monkeypatch):
    configs = expand(validate_matrix(MATRIX))
    assert len(configs) == 72
    seen = collections.Counter()
    for k in range(n):
        for var in ("AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE", "AWS_BATCH_JOB_ID", "JOB_COMPLETION_INDEX"):
            monkeypatch.delenv(var, raising=False)
        for key, value in make_env(k, n).items():
            monkeypatch.setenv(key, value)
        assert parse_shard("auto") == (k + 1, n)  # index k (0-based) is shard k+1 of n
        mine = shard(configs, parse_shard("auto"))
        assert hashes(mine) == hashes(shard(configs, (k + 1, n)))
        seen.update(hashes(mine))
    assert set(seen) == set(hashes(configs)) and set(seen.values()) == {1}


def test_shard_from_env_known_answers():
    assert shard_from_env({"HARNESS_SHARD_COUNT": "4", "JOB_COMPLETION_INDEX": "0"}) == (1, 4)
    assert shard_from_env({"HARNESS_SHARD_COUNT": "4", "AWS_BATCH_JOB_ARRAY_INDEX": "3", "AWS_BATCH_JOB_ARRAY_SIZE": "4",
                           "AWS_BATCH_JOB_ID": "abc-123:3"}) == (4, 4)
    assert shard_from_env({"HARNESS_SHARD_COUNT": "1"}) == (1, 1)
    assert shard_from_env({"HARNESS_SHARD_COUNT": " 2 ", "JOB_COMPLETION_INDEX": "1", "AWS_BATCH_JOB_ARRAY_INDEX": "1"}) == (2, 2)


@pytest.mark.parametrize("env, message", [
    ({}, "HARNESS_SHARD_COUNT is not set"),
    ({"JOB_COMPLETION_INDEX": "0"}, "HARNESS_SHARD_COUNT is not set"),
    ({"HARNESS_SHARD_COUNT": "four", "JOB_COMPLETION_INDEX": "0"}, "HARNESS_SHARD_COUNT='four' is not an integer"),
    ({"HARNESS_SHARD_COUNT": "0"}, "HARNESS_SHARD_COUNT='0' must be >= 1"),
    ({"HARNESS_SHARD_COUNT": "3"}, "neither AWS_BATCH_JOB_ARRAY_INDEX nor JOB_COMPLETION_INDEX is set"),
    ({"HARNESS_SHARD_COUNT": "3", "JOB_COMPLETION_INDEX": "3"}, "JOB_COMPLETION_INDEX=3 is outside 0..2"),
    ({"HARNESS_SHARD_COUNT": "3", "JOB_COMPLETION_INDEX": "-1"}, "JOB_COMPLETION_INDEX='-1' must be >= 0"),
    ({"HARNESS_SHARD_COUNT": "3", "AWS_BATCH_JOB_ARRAY_INDEX": "0", "AWS_BATCH_JOB_ARRAY_SIZE": "4"},
     "HARNESS_SHARD_COUNT=3 but AWS_BATCH_JOB_ARRAY_SIZE=4"),
    ({"HARNESS_SHARD_COUNT": "3", "AWS_BATCH_JOB_ARRAY_INDEX": "0", "JOB_COMPLETION_INDEX": "1"},
     "AWS_BATCH_JOB_ARRAY_INDEX=0 and JOB_COMPLETION_INDEX=1 disagree"),
    ({"HARNESS_SHARD_COUNT": "3", "AWS_BATCH_JOB_ARRAY_INDEX": "1", "AWS_BATCH_JOB_ID": "abc:2"},
     "AWS_BATCH_JOB_ID='abc:2' names child 2, but the index is 1"),
])
def test_shard_auto_bad_environment_is_one_line(env, message, tmp_path, monkeypatch, capsys):
    with pytest.raises(ConfigError, match="^--shard auto: ") as info:
        shard_from_env(env)
    assert message in str(info.value) and "\n" not in str(info.value)
    for var in ("HARNESS_SHARD_COUNT", "AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE", "AWS_BATCH_JOB_ID", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(var, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump(MATRIX))
    assert main(["run", str(m), "--shard", "auto", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_run_dry_run_with_shard_auto_lists_this_childs_share(tmp_path, monkeypatch, capsys):
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump(MATRIX))
    monkeypatch.setenv("HARNESS_SHARD_COUNT", "3")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    assert main(["run", str(m), "--shard", "auto", "--dry-run"]) == 0
    auto = capsys.readouterr().out
    assert main(["run", str(m), "--shard", "2/3", "--dry-run"]) == 0
    assert capsys.readouterr().out == auto and auto.count("bert-tiny") == len(shard(expand(validate_matrix(MATRIX)), (2, 3)))


# ------------------------------------------------------------------------------------------------ plan


@pytest.fixture
def planned(tmp_path, capsys):
    m = tmp_path / "nightly.yaml"
    m.write_text(yaml.safe_dump({**MATRIX, "instance_type": "c7a.large"}))
    out = tmp_path / "plan"
    code = main(["fleet", "plan", str(m), "--instance-types", ",".join(TYPES), "--shards", "4",
                 "--results", "s3://bench-results/nightly", "--out", str(out),
                 "--image", "123456789012.dkr.ecr.us-east-2.amazonaws.com/harness:1",
                 "--job-role-arn", "arn:aws:iam::123456789012:role/harness-fleet-job"])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return out


def load(path):
    return json.loads(path.read_text())


def test_plan_writes_batch_requests_that_botocore_accepts(planned):
    index = load(planned / "fleet.json")
    assert index["schema_version"] == 1 and list(index["instance_types"]) == list(TYPES)
    # the matrix travels as a mapping that validates to the same matrix; its own instance_type is dropped
    assert validate_matrix(index["matrix"]) == validate_matrix({k: v for k, v in MATRIX.items() if k != "instance_type"})
    for instance in TYPES:
        slug = instance.replace(".", "-")
        definition = load(planned / "batch" / f"{slug}.job-definition.json")
        submission = load(planned / "batch" / f"{slug}.submit-job.json")
        batch.check_request("RegisterJobDefinition", definition, instance)
        batch.check_request("SubmitJob", submission, instance)
        container = definition["containerProperties"]
        assert definition["jobDefinitionName"] == submission["jobDefinition"] == submission["jobName"] == f"harness-nightly-{slug}"
        assert definition["type"] == "container" and definition["platformCapabilities"] == ["EC2"]
        assert container["command"] == ["fleet", "worker", "--shard", "auto", "--instance-type", instance,
                                        "--results", "s3://bench-results/nightly"]
        assert container["jobRoleArn"] == "arn:aws:iam::123456789012:role/harness-fleet-job"
        assert batch.env_value(container["environment"], "HARNESS_INSTANCE_TYPE") == instance
        assert validate_matrix(json.loads(batch.env_value(container["environment"], "HARNESS_FLEET_MATRIX"))) == validate_matrix(MATRIX)
        assert definition["retryStrategy"] == {"attempts": 2} and definition["timeout"] == {"attemptDurationSeconds": 21600}
        assert submission["arrayProperties"] == {"size": 4}
        assert submission["containerOverrides"]["environment"] == [{"name": "HARNESS_SHARD_COUNT", "value": "4"}]
        assert submission["jobQueue"] == f"harness-{slug}"
    resources = {i: {r["type"]: r["value"] for r in load(planned / "batch" / f"{i.replace('.', '-')}.job-definition.json")
                     ["containerProperties"]["resourceRequirements"]} for i in TYPES}
    # every vCPU of the instance, so Batch places one child per machine; 85% of its memory in MiB; its GPUs
    assert resources == {"c7a.large": {"VCPU": "2", "MEMORY": "3481"},
                         "c7g.xlarge": {"VCPU": "4", "MEMORY": "6963"},
                         "g4dn.xlarge": {"VCPU": "4", "MEMORY": "13926", "GPU": "1"}}
    assert [j.instance_type for j in read_batch_plan(planned)] == list(TYPES)


def test_one_shard_is_a_plain_job(tmp_path, capsys):
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump(MATRIX))
    assert main(["fleet", "plan", str(m), "--instance-types", "c7a.large", "--shards", "1", "--results", "s3://b/p",
                 "--out", str(tmp_path / "p")]) == 0
    submission = load(tmp_path / "p" / "batch" / "c7a-large.submit-job.json")
    assert "arrayProperties" not in submission
    assert submission["containerOverrides"]["environment"] == [{"name": "HARNESS_SHARD_COUNT", "value": "1"}]
    assert read_batch_plan(tmp_path / "p")[0].size == 1


def deserialize_job(manifest: dict):
    from kubernetes.client import ApiClient

    class Response:  # ApiClient.deserialize reads a REST response's .data
        data = json.dumps(manifest)

    return ApiClient().deserialize(Response(), "V1Job")


def test_kubernetes_manifests_are_indexed_jobs_one_measuring_pod_per_node(planned):
    from kubernetes.client import ApiClient, V1Job

    for instance in TYPES:
        slug = instance.replace(".", "-")
        manifest = yaml.safe_load((planned / "kubernetes" / f"{slug}.yaml").read_text())
        job = deserialize_job(manifest)
        assert isinstance(job, V1Job)
        # every field we wrote is one the model knows (a misspelt key would be dropped here)
        assert ApiClient().sanitize_for_serialization(job) == manifest
        assert (job.api_version, job.kind, job.metadata.name, job.metadata.namespace) == ("batch/v1", "Job", f"harness-nightly-{slug}", "default")
        spec = job.spec
        assert spec.completion_mode == "Indexed" and spec.completions == 4 and spec.parallelism == 4
        assert spec.backoff_limit_per_index == 1 and spec.backoff_limit == 8
        assert spec.active_deadline_seconds == 43200 and spec.ttl_seconds_after_finished == 86400
        assert spec.pod_failure_policy.rules[0].action == "Ignore"
        assert spec.pod_failure_policy.rules[0].on_pod_conditions[0].type == "DisruptionTarget"
        pod = spec.template.spec
        assert spec.template.metadata.labels["harness/role"] == "measure"
        assert pod.restart_policy == "Never"
        assert pod.node_selector == {"node.kubernetes.io/instance-type": instance}
        term = pod.affinity.pod_anti_affinity.required_during_scheduling_ignored_during_execution[0]
        assert term.topology_key == "kubernetes.io/hostname" and term.label_selector.match_labels == {"harness/role": "measure"}
        assert pod.security_context.run_as_non_root is True and pod.security_context.run_as_user == 10001
        (container,) = pod.containers
        assert container.image == "123456789012.dkr.ecr.us-east-2.amazonaws.com/harness:1"
        assert container.command == ["harness"]
        assert container.args == ["fleet", "worker", "--shard", "auto", "--instance-type", instance, "--results", "s3://bench-results/nightly"]
        env = {e.name: e.value for e in container.env}
        assert env["HARNESS_SHARD_COUNT"] == "4" and env["HARNESS_INSTANCE_TYPE"] == instance
        assert validate_matrix(json.loads(env["HARNESS_FLEET_MATRIX"])) == validate_matrix(MATRIX)
    requests = {}
    for instance in TYPES:
        pod = deserialize_job(yaml.safe_load((planned / "kubernetes" / f"{instance.replace('.', '-')}.yaml").read_text())).spec.template.spec
        requests[instance] = (pod.containers[0].resources.requests, pod.containers[0].resources.limits)
    # vCPUs x 1000 less the kubelet's reservation (60 + 10 [+ 5 + 5]) less 250m for daemon sets; half the memory
    assert requests == {"c7a.large": ({"cpu": "1680m", "memory": "2048Mi"}, None),
                        "c7g.xlarge": ({"cpu": "3670m", "memory": "4096Mi"}, None),
                        "g4dn.xlarge": ({"cpu": "3670m", "memory": "8192Mi"}, {"nvidia.com/gpu": "1"})}


@pytest.mark.parametrize("extra, message", [
    (["--instance-types", "c7a.large,c9z.large"], "--instance-types: unknown instance type 'c9z.large'; close valid choices:"),
    (["--shards", "0"], "--shards: need an integer 1..10000 (one machine per shard), got 0"),
    (["--shards", "10001"], "--shards: need an integer 1..10000"),
    (["--results", "https://bucket.example.com/x"], "expected an s3://bucket/prefix URL, got 'https://bucket.example.com/x'"),
    (["--results", "/srv/results"], "expected an s3://bucket/prefix URL"),
    (["--name", "Nightly_Run"], "--name: 'Nightly_Run' must be lower-case letters, digits and hyphens"),
    (["--name", "x" * 60], "Kubernetes allows 63"),
    (["--job-queue", "queue {type}"], "--job-queue: 'queue {type}': the only placeholder is {instance}"),
    (["--job-role-arn", "harness-role"], "--job-role-arn: 'harness-role' is not an IAM role ARN"),
    (["--retries", "10"], "--retries: need 0..9, got 10"),
    (["--timeout-min", "0.5"], "--timeout-min: AWS Batch needs at least 60 s, got 30 s"),
])
def test_plan_bad_input_is_one_line_and_writes_nothing(extra, message, tmp_path, capsys):
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump(MATRIX))
    args = {"--instance-types": "c7a.large,c7i.xlarge", "--shards": "3", "--results": "s3://b/p", "--out": str(tmp_path / "out")}
    args.update(dict(zip(extra[::2], extra[1::2])))
    code = main(["fleet", "plan", str(m), *[x for kv in args.items() for x in kv]])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------ worker


def test_worker_runs_its_shard_on_its_instance_type_then_pushes(monkeypatch):
    monkeypatch.setenv("HARNESS_SHARD_COUNT", "3")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    calls = []
    run = lambda configs, **kw: calls.append(("run", configs, kw))  # noqa: E731
    push = lambda url, root, endpoint_url=None: calls.append(("push", url, root)) or {"m.jsonl": 5}  # noqa: E731
    result = run_shard(validate_matrix(MATRIX), "c7i.xlarge", "s3://b/p", root="/r", run=run, push=push, echo=lambda *_: None)
    (_, configs, kw), push_call = calls
    expected = shard(expand(dataclasses.replace(validate_matrix(MATRIX), instance_type="c7i.xlarge")), (3, 3))
    assert hashes(configs) == hashes(expected) and {c.instance_type for c in configs} == {"c7i.xlarge"}
    assert kw == {"root": "/r", "force": False, "progress": False}
    assert push_call == ("push", "s3://b/p", "/r") and result == {"shard": (3, 3), "configs": len(expected), "pushed": 5}


def test_worker_pushes_what_it_has_when_the_run_fails_then_reports_the_error(monkeypatch):
    monkeypatch.setenv("HARNESS_SHARD_COUNT", "1")
    pushed = []

    def run(configs, **kw):
        raise HarnessError("disk full")

    with pytest.raises(HarnessError, match="disk full"):
        run_shard(validate_matrix(MATRIX), "c7a.large", "s3://b/p", run=run,
                  push=lambda *a, **k: pushed.append(a) or {}, echo=lambda *_: None)
    assert pushed == [("s3://b/p", None)]


def test_worker_checks_its_inputs_before_measuring():
    never = lambda *a, **k: pytest.fail("must not run")  # noqa: E731
    with pytest.raises(ConfigError, match="unknown instance type 'c7z.huge'"):
        run_shard(validate_matrix(MATRIX), "c7z.huge", "s3://b/p", shard_text="1/1", run=never, push=never)
    with pytest.raises(ConfigError, match="expected an s3://bucket/prefix URL"):
        run_shard(validate_matrix(MATRIX), "c7a.large", "gs://b/p", shard_text="1/1", run=never, push=never)


def test_worker_matrix_from_the_job_environment():
    assert matrix_from(None, {"HARNESS_FLEET_MATRIX": json.dumps(MATRIX)}) == validate_matrix(MATRIX)
    with pytest.raises(ConfigError, match="give a MATRIX file or set HARNESS_FLEET_MATRIX"):
        matrix_from(None, {})
    with pytest.raises(ConfigError, match="HARNESS_FLEET_MATRIX: not JSON"):
        matrix_from(None, {"HARNESS_FLEET_MATRIX": "{models: ["})
    with pytest.raises(ConfigError, match="HARNESS_FLEET_MATRIX: backends\\[0\\]: unknown value 'tensorrt'"):
        matrix_from(None, {"HARNESS_FLEET_MATRIX": json.dumps({**MATRIX, "backends": ["tensorrt"]})})


def test_gpu_instance_types_get_the_gpu_image(tmp_path, capsys):
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump(MATRIX))
    assert main(["fleet", "plan", str(m), "--instance-types", "c7a.large,g4dn.xlarge", "--shards", "2", "--results", "s3://b/p",
                 "--out", str(tmp_path / "p"), "--image", "reg/harness:1", "--gpu-image", "reg/harness:1-gpu"]) == 0
    images = {i: load(tmp_path / "p" / "batch" / f"{i}.job-definition.json")["containerProperties"]["image"]
              for i in ("c7a-large", "g4dn-xlarge")}
    assert images == {"c7a-large": "reg/harness:1", "g4dn-xlarge": "reg/harness:1-gpu"}
    pod = yaml.safe_load((tmp_path / "p" / "kubernetes" / "g4dn-xlarge.yaml").read_text())["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "reg/harness:1-gpu"


def test_worker_refuses_an_instance_type_that_disagrees_with_the_job(monkeypatch, capsys):
    check_instance_env("c7a.large", {"HARNESS_INSTANCE_TYPE": "c7a.large"})
    check_instance_env("c7a.large", {})
    monkeypatch.setenv("HARNESS_INSTANCE_TYPE", "c7i.xlarge")
    monkeypatch.setenv("HARNESS_FLEET_MATRIX", json.dumps(MATRIX))
    assert main(["fleet", "worker", "--instance-type", "c7a.large", "--results", "s3://b/p"]) == 2
    err = capsys.readouterr().err
    assert "--instance-type c7a.large but HARNESS_INSTANCE_TYPE=c7i.xlarge" in err and err.count("\n") == 1
