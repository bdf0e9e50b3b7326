"""`harness fleet submit` against botocore's Stubber: the service's real request and response shapes
(the stub checks both against the AWS Batch model), rejection handling, polling, and child job times."""

from __future__ import annotations

import json

import botocore.session
import pytest
import yaml
from botocore.stub import Stubber

from harness.cli import main
from harness.contracts import SubmittedJob
from harness.foundation.errors import HarnessError
from harness.workflows.fleet import submit
from harness.workflows.fleet.plan import read_batch_plan
from harness.workflows.fleet.submit import child_times, wait

MATRIX = {"name": "nightly", "models": ["bert-tiny"], "backends": ["onnxruntime"], "threads": [1, 2],
          "batch_sizes": [1], "seq_lens": [16]}
TYPES = ("c7a.large", "c7i.xlarge", "g4dn.xlarge")
ACCOUNT = "123456789012"


@pytest.fixture
def client():
    c = botocore.session.get_session().create_client(
        "batch", region_name="us-east-2", aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(c) as stubber:
        c.stubber = stubber
        yield c
        stubber.assert_no_pending_responses()


@pytest.fixture
def plan_dir(tmp_path, capsys):
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump(MATRIX))
    out = tmp_path / "plan"
    assert main(["fleet", "plan", str(m), "--instance-types", ",".join(TYPES), "--shards", "3",
                 "--results", "s3://bench/n", "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def def_arn(name, revision=1):
    return f"arn:aws:batch:us-east-2:{ACCOUNT}:job-definition/{name}:{revision}"


def expect_register(client, job):
    name = job.job_definition["jobDefinitionName"]
    client.stubber.add_response("register_job_definition",
                                {"jobDefinitionName": name, "jobDefinitionArn": def_arn(name), "revision": 1},
                                expected_params=job.job_definition)


def expect_submit(client, job, job_id):
    name = job.submit_job["jobName"]
    client.stubber.add_response(
        "submit_job", {"jobArn": f"arn:aws:batch:us-east-2:{ACCOUNT}:job/{job_id}", "jobName": name, "jobId": job_id},
        expected_params={**job.submit_job, "jobDefinition": def_arn(job.job_definition["jobDefinitionName"])})


def detail(job_id, status, summary=None, size=3, started=1_767_225_600_000, stopped=None, name="harness-nightly-c7a-large"):
    d = {"jobName": name, "jobId": job_id, "jobQueue": f"arn:aws:batch:us-east-2:{ACCOUNT}:job-queue/harness-c7a-large",
         "status": status, "startedAt": started, "jobDefinition": def_arn(name)}
    if summary is not None:
        d["arrayProperties"] = {"statusSummary": summary, "size": size}
    if stopped is not None:
        d["stoppedAt"] = stopped
    return d


def test_submit_registers_then_submits_every_array_and_saves_the_ids(plan_dir, client, monkeypatch, capsys):
    jobs = read_batch_plan(plan_dir)
    for job in jobs:
        expect_register(client, job)
    for job, job_id in zip(jobs, ("id-a", "id-b", "id-c")):
        expect_submit(client, job, job_id)
    monkeypatch.setattr(submit, "batch_client", lambda region=None, endpoint_url=None: client)
    assert main(["fleet", "submit", str(plan_dir), "--no-wait"]) == 0
    out = capsys.readouterr().out
    assert "submitted c7a.large: harness-nightly-c7a-large id-a (3 child job(s)) on harness-c7a-large" in out
    saved = json.loads((plan_dir / "submitted.json").read_text())
    assert saved["schema_version"] == 2
    assert [(s["instance_type"], s["job_id"], s["size"]) for s in saved["jobs"]] == [
        ("c7a.large", "id-a", 3), ("c7i.xlarge", "id-b", 3), ("g4dn.xlarge", "id-c", 3)]


def test_a_rejected_submission_terminates_the_accepted_ones_in_one_line(plan_dir, client, monkeypatch, capsys):
    jobs = read_batch_plan(plan_dir)
    for job in jobs:
        expect_register(client, job)
    expect_submit(client, jobs[0], "id-a")
    expect_submit(client, jobs[1], "id-b")
    client.stubber.add_client_error("submit_job", service_error_code="ClientException", http_status_code=400,
                                    service_message="Job Queue harness-g4dn-xlarge does not exist.")
    for job_id in ("id-a", "id-b"):
        client.stubber.add_response("terminate_job", {}, expected_params={
            "jobId": job_id, "reason": "harness fleet submit: harness-nightly-g4dn-xlarge was rejected"})
    monkeypatch.setattr(submit, "batch_client", lambda region=None, endpoint_url=None: client)
    assert main(["fleet", "submit", str(plan_dir), "--no-wait"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert ("AWS Batch rejected harness-nightly-g4dn-xlarge (g4dn.xlarge) on queue harness-g4dn-xlarge: "
            "ClientException: Job Queue harness-g4dn-xlarge does not exist.; "
            "terminated the 2 job(s) already submitted (id-a, id-b)") in err
    assert not (plan_dir / "submitted.json").exists()


def test_a_rejected_job_definition_submits_nothing(plan_dir, client):
    jobs = read_batch_plan(plan_dir)
    expect_register(client, jobs[0])
    client.stubber.add_client_error("register_job_definition", service_error_code="ClientException",
                                    service_message="Error executing request, Exception : Invalid image.")
    with pytest.raises(HarnessError, match=r"registering job definition harness-nightly-c7i-xlarge \(c7i.xlarge\) failed: "
                                           r"ClientException: .*Invalid image\.; nothing was submitted"):
        submit.submit_plan(client, jobs)


def test_termination_that_fails_is_said_too(client):
    done = [SubmittedJob("c7a.large", "n", "id-a", "q", 3)]
    client.stubber.add_client_error("terminate_job", service_error_code="ServerException", service_message="try again")
    text = submit.terminate_all(client, done, "why")
    assert text == "could NOT terminate id-a (ServerException: try again): terminate by hand"


@pytest.mark.parametrize("edit, message", [
    (lambda d, s: s["containerOverrides"]["environment"][0].update(value="2"),
     "HARNESS_SHARD_COUNT='2' but the array size is 3; edit both together"),
    (lambda d, s: s.update(arrayProperties={"size": 1}), "arrayProperties.size 1 outside 2..10000"),
    (lambda d, s: d["retryStrategy"].update(attempts="two"), "not a valid RegisterJobDefinition request: Invalid type for parameter retryStrategy.attempts"),
    (lambda d, s: s.pop("jobQueue"), "not a valid SubmitJob request: Missing required parameter in input: \"jobQueue\""),
    (lambda d, s: d["containerProperties"]["command"].__setitem__(-1, "https://example.com/x"),
     "the container command's --results must be an s3://bucket/prefix URL, got 'https://example.com/x'"),
    (lambda d, s: s.update(jobDefinition="other"), "submission names job definition 'other'"),
])
def test_an_edited_plan_is_checked_whole_before_any_call(edit, message, plan_dir, monkeypatch, capsys):
    definition_path = plan_dir / "batch" / "g4dn-xlarge.job-definition.json"  # the last one: nothing before it goes out
    submission_path = plan_dir / "batch" / "g4dn-xlarge.submit-job.json"
    definition, submission = json.loads(definition_path.read_text()), json.loads(submission_path.read_text())
    edit(definition, submission)
    definition_path.write_text(json.dumps(definition))
    submission_path.write_text(json.dumps(submission))
    monkeypatch.setattr(submit, "batch_client", lambda *a, **k: pytest.fail("no AWS client before the plan is valid"))
    assert main(["fleet", "submit", str(plan_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "g4dn.xlarge" in err and err.count("\n") == 1


def test_an_unknown_instance_type_in_a_plan_is_refused(plan_dir, monkeypatch, capsys):
    index = json.loads((plan_dir / "fleet.json").read_text())
    index["instance_types"]["c7z.huge"] = index["instance_types"].pop("c7i.xlarge")
    (plan_dir / "fleet.json").write_text(json.dumps(index))
    monkeypatch.setattr(submit, "batch_client", lambda *a, **k: pytest.fail("no AWS client before the plan is valid"))
    assert main(["fleet", "submit", str(plan_dir)]) == 2
    assert "unknown instance type 'c7z.huge'" in capsys.readouterr().err


def test_submit_without_a_plan_says_so(tmp_path, capsys):
    assert main(["fleet", "submit", str(tmp_path)]) == 2
    assert "plan index not found; run `harness fleet plan` first" in capsys.readouterr().err


def test_wait_polls_parents_until_they_end_and_prints_changes(client):
    jobs = [SubmittedJob("c7a.large", "harness-nightly-c7a-large", "id-a", "q", 3),
            SubmittedJob("c7i.xlarge", "harness-nightly-c7i-xlarge", "id-b", "q", 3)]
    polls = [
        [detail("id-a", "PENDING", {"RUNNABLE": 3}), detail("id-b", "PENDING", {"RUNNABLE": 3})],
        [detail("id-a", "PENDING", {"RUNNABLE": 3}), detail("id-b", "PENDING", {"RUNNING": 1, "RUNNABLE": 2})],
        [detail("id-a", "SUCCEEDED", {"SUCCEEDED": 3}), detail("id-b", "FAILED", {"SUCCEEDED": 2, "FAILED": 1})],
    ]
    for reply in polls:
        client.stubber.add_response("describe_jobs", {"jobs": reply}, expected_params={"jobs": ["id-a", "id-b"]})
    lines, sleeps = [], []
    states = wait(client, jobs, poll_s=30, sleep=sleeps.append, clock=lambda: 0.0, echo=lines.append)
    assert states == {"id-a": "SUCCEEDED", "id-b": "FAILED"}
    assert sleeps == [30, 30]
    assert lines == [
        "c7a.large harness-nightly-c7a-large id-a: PENDING [RUNNABLE 3]",
        "c7i.xlarge harness-nightly-c7i-xlarge id-b: PENDING [RUNNABLE 3]",
        "c7i.xlarge harness-nightly-c7i-xlarge id-b: PENDING [RUNNABLE 2, RUNNING 1]",
        "c7a.large harness-nightly-c7a-large id-a: SUCCEEDED [SUCCEEDED 3]",
        "c7i.xlarge harness-nightly-c7i-xlarge id-b: FAILED [FAILED 1, SUCCEEDED 2]",
    ]


def test_wait_gives_up_after_its_timeout_without_terminating(client):
    jobs = [SubmittedJob("c7a.large", "n", "id-a", "q", 3)]
    for _ in range(2):
        client.stubber.add_response("describe_jobs", {"jobs": [detail("id-a", "RUNNING", {"RUNNING": 3})]},
                                    expected_params={"jobs": ["id-a"]})
    ticks = iter([0.0, 100.0, 200.0])
    with pytest.raises(HarnessError, match=r"still running after 150 s: id-a \(not terminated"):
        wait(client, jobs, poll_s=100, timeout_s=150, sleep=lambda s: None, clock=lambda: next(ticks), echo=lambda s: None)


def test_submit_and_wait_exit_code_says_whether_every_array_succeeded(plan_dir, client, monkeypatch, capsys):
    jobs = read_batch_plan(plan_dir)
    for job in jobs:
        expect_register(client, job)
    for job, job_id in zip(jobs, ("id-a", "id-b", "id-c")):
        expect_submit(client, job, job_id)
    client.stubber.add_response("describe_jobs", {"jobs": [
        detail("id-a", "SUCCEEDED", {"SUCCEEDED": 3}), detail("id-b", "SUCCEEDED", {"SUCCEEDED": 3}),
        detail("id-c", "FAILED", {"FAILED": 3})]}, expected_params={"jobs": ["id-a", "id-b", "id-c"]})
    monkeypatch.setattr(submit, "batch_client", lambda region=None, endpoint_url=None: client)
    assert main(["fleet", "submit", str(plan_dir), "--region", "us-east-2"]) == 1
    assert "2 of 3 array job(s) succeeded; not succeeded: id-c" in capsys.readouterr().out


def test_child_times_reads_every_child_in_chunks_of_100(client):
    jobs = [SubmittedJob("c7a.large", "n", "big", "q", 101), SubmittedJob("c7g.xlarge", "m", "one", "q", 1)]
    ids = [f"big:{i}" for i in range(101)] + ["one"]
    first = [detail(f"big:{i}", "SUCCEEDED", started=1_000_000 + i, stopped=1_600_000 + i) for i in range(100)]
    client.stubber.add_response("describe_jobs", {"jobs": first}, expected_params={"jobs": ids[:100]})
    client.stubber.add_response("describe_jobs", {"jobs": [
        detail("big:100", "FAILED", started=2_000_000, stopped=2_900_000),
        detail("one", "SUCCEEDED", started=5_000_000)]},  # never stopped: not counted
        expected_params={"jobs": ids[100:]})
    times = child_times(client, jobs)
    assert len(times) == 101
    assert times[0] == ("c7a.large", "big:0", 1000.0, 1600.0)
    assert ("c7a.large", "big:100", 2000.0, 2900.0) in times
