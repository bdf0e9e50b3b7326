"""Submit a validated plan to AWS Batch, and follow the array jobs until they end.

Order: every job definition is registered first (a new revision each time), then every array job is
submitted against the revision just registered. If Batch rejects a submission after others were
accepted, the accepted ones are terminated and the one error line says which. `wait` polls
describe_jobs (the array parent's status and arrayProperties.statusSummary) with an injected sleep and
clock, printing a line whenever a job's state changes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from harness.contracts import Submissions, SubmittedJob
from harness.foundation.errors import ConfigError, HarnessError

from .plan import BatchJob

FINAL_STATES = ("SUCCEEDED", "FAILED")
DESCRIBE_LIMIT = 100  # describe_jobs takes at most 100 ids
SUBMITTED_FILE = "submitted.json"


def batch_client(region: str | None = None, endpoint_url: str | None = None):
    import boto3

    return boto3.client("batch", region_name=region, endpoint_url=endpoint_url)


def _aws_errors():
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _message(exc) -> str:
    """'Code: message' of a botocore error, on one line."""
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    text = error.get("Message") or str(exc)
    return " ".join((f"{error['Code']}: {text}" if error.get("Code") else text).split())


def register_all(client, jobs: list[BatchJob]) -> dict[str, str]:
    """{job definition name: ARN of the revision registered now}."""
    arns = {}
    for job in jobs:
        name = job.job_definition["jobDefinitionName"]
        try:
            arns[name] = client.register_job_definition(**job.job_definition)["jobDefinitionArn"]
        except _aws_errors() as exc:
            raise HarnessError(f"registering job definition {name} ({job.instance_type}) failed: {_message(exc)}; "
                               "nothing was submitted") from None
    return arns


def submit_all(client, jobs: list[BatchJob], arns: dict[str, str]) -> list[SubmittedJob]:
    """Submit every array job; on a rejection terminate those already accepted, then raise one line."""
    done: list[SubmittedJob] = []
    for job in jobs:
        request = {**job.submit_job, "jobDefinition": arns[job.submit_job["jobDefinition"]]}
        try:
            reply = client.submit_job(**request)
        except _aws_errors() as exc:
            undone = terminate_all(client, done, f"harness fleet submit: {request['jobName']} was rejected")
            raise HarnessError(f"AWS Batch rejected {request['jobName']} ({job.instance_type}) on queue "
                               f"{request['jobQueue']}: {_message(exc)}; {undone}") from None
        done.append(SubmittedJob(job.instance_type, reply["jobName"], reply["jobId"], request["jobQueue"], job.size))
    return done


def terminate_all(client, submitted: list[SubmittedJob], reason: str) -> str:
    """Terminate every job in `submitted`; returns what happened, in words, for the error line."""
    if not submitted:
        return "nothing had been submitted"
    ended, failed = [], []
    for s in submitted:
        try:
            client.terminate_job(jobId=s.job_id, reason=reason)
            ended.append(s.job_id)
        except _aws_errors() as exc:
            failed.append(f"{s.job_id} ({_message(exc)})")
    text = f"terminated the {len(ended)} job(s) already submitted ({', '.join(ended)})" if ended else ""
    if failed:
        text += ("; " if text else "") + f"could NOT terminate {', '.join(failed)}: terminate by hand"
    return text


def submit_plan(client, jobs: list[BatchJob]) -> list[SubmittedJob]:
    return submit_all(client, jobs, register_all(client, jobs))


def save_submitted(plan_dir, submitted: list[SubmittedJob]) -> Path:
    path = Path(plan_dir) / SUBMITTED_FILE
    path.write_text(json.dumps(Submissions(jobs=tuple(submitted)).to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def load_submitted(path) -> list[SubmittedJob]:
    """The jobs in a submitted.json of any readable version (harness.contracts.fleet)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: not readable ({exc.strerror}); run `harness fleet submit` first") from None
    try:
        return list(Submissions.from_json(json.loads(text)).jobs)
    except ValueError as exc:  # not JSON, or a RecordError naming the field
        raise ConfigError(f"{path}: not the submitted jobs `harness fleet submit` writes ({exc})") from None


def describe(client, job_ids: list[str]) -> dict[str, dict]:
    """{job id: JobDetail} in chunks of 100."""
    out = {}
    for start in range(0, len(job_ids), DESCRIBE_LIMIT):
        try:
            reply = client.describe_jobs(jobs=job_ids[start:start + DESCRIBE_LIMIT])
        except _aws_errors() as exc:
            raise HarnessError(f"AWS Batch describe_jobs failed: {_message(exc)}") from None
        out.update({job["jobId"]: job for job in reply.get("jobs", [])})
    return out


def state_line(s: SubmittedJob, detail: dict | None) -> str:
    if detail is None:
        return f"{s.instance_type} {s.job_name} {s.job_id}: not found"
    summary = (detail.get("arrayProperties") or {}).get("statusSummary") or {}
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.items()) if v)
    reason = f" ({detail['statusReason']})" if detail.get("statusReason") and detail["status"] == "FAILED" else ""
    return f"{s.instance_type} {s.job_name} {s.job_id}: {detail['status']}{f' [{counts}]' if counts else ''}{reason}"


def wait(client, submitted: list[SubmittedJob], *, poll_s: float = 30.0, timeout_s: float | None = None,
         sleep=time.sleep, clock=time.monotonic, echo=print) -> dict[str, str]:
    """Poll until every job is SUCCEEDED or FAILED; returns {job id: final status}."""
    start, last = clock(), {}
    while True:
        details = describe(client, [s.job_id for s in submitted])
        states = {}
        for s in submitted:
            line = state_line(s, details.get(s.job_id))
            if last.get(s.job_id) != line:
                echo(line)
            last[s.job_id] = line
            states[s.job_id] = (details.get(s.job_id) or {}).get("status", "MISSING")
        if all(v in FINAL_STATES or v == "MISSING" for v in states.values()):
            return states
        if timeout_s is not None and clock() - start >= timeout_s:
            running = ", ".join(k for k, v in states.items() if v not in FINAL_STATES)
            raise HarnessError(f"still running after {timeout_s:g} s: {running} (not terminated; "
                               "`aws batch terminate-job` ends them)")
        sleep(poll_s)


def child_times(client, submitted: list[SubmittedJob]) -> list[tuple[str, str, float, float]]:
    """(instance type, child job id, started, stopped) in epoch seconds, for every child that ran."""
    owner, ids = {}, []
    for s in submitted:
        children = [f"{s.job_id}:{i}" for i in range(s.size)] if s.size > 1 else [s.job_id]
        owner.update({c: s.instance_type for c in children})
        ids.extend(children)
    out = []
    for job_id, detail in describe(client, ids).items():
        started, stopped = detail.get("startedAt"), detail.get("stoppedAt")
        if started and stopped and job_id in owner:
            out.append((owner[job_id], job_id, started / 1000.0, stopped / 1000.0))
    return sorted(out)
