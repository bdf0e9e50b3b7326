"""AWS as the documented fleet and price commands meet it, with nothing leaving the machine (used by the
documented-command tests): moto's server for S3, Batch (without Docker), EC2 spot prices and IAM, reached through
AWS_ENDPOINT_URL, which botocore honours for every client; and the Price List API, which moto does not serve,
answered by botocore's Stubber from the recorded responses in tests/fixtures/pricing."""

from __future__ import annotations

import contextlib
import json
import os

from tests.docs_commands import REPO, Args, DocCommandError, Step, Workspace

PRICE_FIXTURES = REPO / "tests" / "fixtures" / "pricing"


class FakeAWS:
    """The fake for a session (one moto server, so that what `fleet submit` starts, `fleet collect` finds); called
    with (workspace, step), a context in which that step's AWS clients reach it."""

    def __init__(self):
        self.server = self.endpoint = None
        self.pushed: set[str] = set()

    def start(self):
        if self.server is None:
            import logging

            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self.server.start()
            host, port = self.server.get_host_and_port()
            self.endpoint = f"http://{host}:{port}"
            import urllib.request

            req = urllib.request.Request(f"{self.endpoint}/moto-api/config", method="POST",
                                         data=json.dumps({"batch": {"use_docker": False}}).encode())
            urllib.request.urlopen(req).read()

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server = None

    @contextlib.contextmanager
    def __call__(self, ws: Workspace, step: Step):
        import boto3

        self.start()
        env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-2", "AWS_CONFIG_FILE": str(ws.root / "no-aws-config"),
               "AWS_SHARED_CREDENTIALS_FILE": str(ws.root / "no-aws-credentials"), "AWS_EC2_METADATA_DISABLED": "true"}
        saved = {k: os.environ.get(k) for k in [*env, "AWS_PROFILE", "AWS_SESSION_TOKEN"]}
        os.environ.update(env)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(k, None)
        boto3.DEFAULT_SESSION = None
        real_client = boto3.client
        try:
            boto3.client = self._client_factory(real_client, step)
            if step.key.startswith("harness fleet"):
                self._fleet(ws, Args(step.argv[3:]))
            yield
        finally:
            boto3.client = real_client
            boto3.DEFAULT_SESSION = None
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    @staticmethod
    def _client_factory(real_client, step: Step):
        def client(service, *args, **kwargs):
            c = real_client(service, *args, **kwargs)
            if service == "pricing":
                _stub_price_list(c, Args(step.argv[1:]))
            return c

        return client

    def _fleet(self, ws: Workspace, a: Args) -> None:
        """The administrator's one-time set-up (a compute environment and a harness-<type> queue per planned type,
        the results bucket), and the fleet's children, faked: one record per machine pushed to the results URL."""
        import boto3

        from harness.workflows.fleet.plan import read_batch_plan, read_index

        plan = a.get("--plan") or next((a.tokens[i] for i in a.positionals()), None)
        if not plan:
            return
        plan_dir = ws.root / plan
        index = read_index(plan_dir)
        s3 = boto3.client("s3", region_name="us-east-1")
        bucket, _, prefix = index.results[len("s3://"):].partition("/")
        if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
            s3.create_bucket(Bucket=bucket)
        region = a.get("--region") or "us-east-2"
        for job in read_batch_plan(plan_dir):
            batch = boto3.client("batch", region_name=region)
            queue = job.submit_job["jobQueue"]
            if not batch.describe_job_queues(jobQueues=[queue])["jobQueues"]:
                iam = boto3.client("iam", region_name=region)
                try:
                    role = iam.get_role(RoleName="harness-batch-service")["Role"]["Arn"]
                except iam.exceptions.NoSuchEntityException:
                    role = iam.create_role(RoleName="harness-batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
                ce = batch.create_compute_environment(computeEnvironmentName=f"{queue}-ce", type="UNMANAGED",
                                                      state="ENABLED", serviceRole=role)
                batch.create_job_queue(jobQueueName=queue, state="ENABLED", priority=1, computeEnvironmentOrder=[
                    {"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}])
        if index.results not in self.pushed:
            _push_children(index, ws)
            self.pushed.add(index.results)


def _push_children(index: dict, ws: Workspace) -> None:
    """What the fleet's children push: one record per child machine, declaring its instance type."""
    from harness.results.store import append_record
    from harness.results.sync import push
    from tests.helpers.records import record

    for k, instance in enumerate(index.instance_types):
        for shard in range(int(index.shards)):
            root = ws.root / "children" / f"{instance}-{shard}"
            machine = f"{instance}-child-{shard}"
            append_record(record(f"{machine}-r", model="bert-tiny", instance=instance, machine_id=machine,
                                 created_at=f"2026-11-30T0{k}:{10 + shard}:00+00:00"), root)
            push(index.results, root)


def _stub_price_list(client, a: Args) -> None:
    """botocore's Stubber on the Price List client: one GetProducts answer per instance type the command asks for,
    recorded in tests/fixtures/pricing/<type>_<region>.json, and the request checked against the filters that
    select one on-demand Linux SKU."""
    from botocore.stub import Stubber

    from harness.pricing.aws import price_filters

    region = a.get("--region")
    stub = Stubber(client)
    for instance in (a.get("--instances") or "").split(","):
        name = f"{instance.replace('.', '_')}_{str(region).replace('-', '_')}.json"
        if not (PRICE_FIXTURES / name).is_file():
            raise DocCommandError(f"no recorded Price List answer for {instance} in {region}: add "
                                  f"tests/fixtures/pricing/{name}")
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": [(PRICE_FIXTURES / name).read_text()]},
                          {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "Filters": price_filters(instance, region)})
    stub.activate()
