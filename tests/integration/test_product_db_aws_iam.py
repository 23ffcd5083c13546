"""A postgres stage's policies suffice for what its functions really do, and its VPC has an endpoint for each call.

The replay approach of test_iam_policies.py, on the `pg` stage: the product
and order flows run through the app's own handlers against moto and a real
PostgreSQL server, logging in as they would on AWS (PRODUCT_DB_SECRET_ARN, a
secret holding only username and password, like the one RDS manages), and
every AWS call each function makes is checked against that function's policy:
the policy file and the packaged template's, filled in. Each function reads
the secret itself, as it would in its own Lambda container.
"""
import json
import uuid

import boto3
import pytest

from chalicelib import aws
from infra.cloudformation import functions
from infra import iam
from tests import iam_check
from tests.events import sqs_event, sqs_record
from tests.iam_check import CallRecorder, allowed
from tests.integration.test_packaging import packaged, resolve_sub, stage_environment, variant

JSON = {"Content-Type": "application/json"}
IN_VPC_FUNCTIONS = {"api_handler", "process_product_queue", "process_orders", "migrate_product_db"}


@pytest.fixture
def pg(aws_resources, postgres_server, monkeypatch):
    """The pg stage's app on moto and the test server, logging in with an RDS-shaped secret."""
    from chalice.test import Client

    from tests.conftest import as_operator

    from chalicelib.catalog.service import catalog
    from chalicelib.db import connection
    stage = variant("pg")
    login = postgres_server.environment
    secret = boto3.client("secretsmanager").create_secret(
        Name=f"rds!db-{uuid.uuid4()}",  # the name RDS gives the secrets it manages
        SecretString=json.dumps({"username": login["PRODUCT_DB_USER"], "password": login["PRODUCT_DB_PASSWORD"]}))
    exercised = set(iam_check.EXERCISED)
    with stage_environment(stage):
        for name in ("PRODUCT_DB_USER", "PRODUCT_DB_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        for name in ("PRODUCT_DB_HOST", "PRODUCT_DB_PORT", "PRODUCT_DB_NAME", "PRODUCT_DB_SSL"):
            monkeypatch.setenv(name, login[name])  # on AWS: the proxy, from the template
        monkeypatch.setenv("PRODUCT_DB_SECRET_ARN", secret["ARN"])
        app = stage.load_app()
        connection.reset()
        catalog.cache_clear()
        try:
            with Client(app, stage_name="pg", project_dir=str(stage.project_dir)) as client:
                yield stage, app, as_operator(client, aws_resources), secret["ARN"]
        finally:
            connection.reset()
            catalog.cache_clear()
            iam_check.EXERCISED.clear()  # these calls were the pg stage's, not dev's
            iam_check.EXERCISED.update(exercised)


def test_the_postgres_stage_policies_suffice_and_the_vpc_has_an_endpoint_for_every_call(pg):
    from chalicelib.db import connection
    stage, app, client, secret_arn = pg
    recorder = CallRecorder().attach().attribute(app)
    secret_reads = []

    def record_secret_read(params, model, **_):
        secret_reads.append((recorder._current.name or "api_handler", f"secretsmanager:{model.name}",
                             params["SecretId"]))
    aws.client("secretsmanager").meta.events.register("provide-client-params.secretsmanager.*", record_secret_read)

    def as_a_new_container():
        # Each Lambda function has containers of its own: it reads the secret itself.
        from chalicelib.catalog.service import catalog
        from chalicelib.orders import service as orders
        connection.reset()
        catalog.cache_clear()
        orders.reset()
    try:
        assert client.lambda_.invoke("migrate_product_db", {}).payload["latest"] >= 1
        as_a_new_container()
        accepted = client.http.post("/products", headers=JSON, body='{"name": "Lápis", "price": "2.50"}')
        product_id = json.loads(accepted.body)["id"]
        [message] = boto3.client("sqs").receive_message(
            QueueUrl=aws.client("sqs").get_queue_url(QueueName="product-queue")["QueueUrl"])["Messages"]
        as_a_new_container()
        for _ in range(2):  # the duplicate reads the stored product back
            event = sqs_event(sqs_record(message["Body"], "product-queue", f"m-{uuid.uuid4()}"))
            assert client.lambda_.invoke("process_product_queue", event).payload == {"batchItemFailures": []}
        as_a_new_container()
        assert client.http.get(f"/products/{product_id}").status_code == 200
        assert client.http.get("/products?limit=5").status_code == 200
        order = client.http.post("/orders", headers=JSON, body=json.dumps(
            {"customerId": "c-1", "items": [{"productId": product_id, "quantity": 2}]}))
        order_id = json.loads(order.body)["orderId"]
        as_a_new_container()
        event = sqs_event(sqs_record({"orderId": order_id}, "orders-queue"))
        assert client.lambda_.invoke("process_orders", event).payload == {"batchItemFailures": []}
        assert json.loads(client.http.get(f"/orders/{order_id}").body)["total"] == "5.00"  # priced from PostgreSQL
    finally:
        recorder.restore()

    # Every function that uses the database logged in with the secret, and only those read it.
    assert {(f, action, arn) for f, action, arn in secret_reads} == {
        (f, "secretsmanager:GetSecretValue", secret_arn) for f in IN_VPC_FUNCTIONS}
    assert "ProductTable" not in repr(recorder.calls)  # the database replaced it

    # The policy files allow every call.
    def file_policy(function):
        return json.loads((stage.chalice_dir / iam.policy_filename(stage, function)).read_text())
    assert recorder.denied_by_function(file_policy) == []
    assert [r for r in secret_reads if not allowed(file_policy(r[0]), r[1], r[2])] == []

    # So do the template's, with the stack's account, region and the secret RDS created.
    template = json.loads(packaged("pg").read_text())
    names = {"AWS::Partition": "aws", "AWS::Region": iam_check.REGION, "AWS::AccountId": iam_check.ACCOUNT,
             "NameSuffix": "", "ProductVpcSubnetA": "subnet-a", "ProductVpcSubnetB": "subnet-b",
             "ProductDbClientSecurityGroup.GroupId": "sg-1", "TopicsKey": "topics-key-id"}
    secret_ref = {"Fn::GetAtt": ["ProductDb", "MasterUserSecret.SecretArn"]}
    by_function = {}
    for logical_id, function in functions(template).items():
        role = template["Resources"][logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        document = resolve_sub(template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"], names)
        by_function[function] = json.loads(json.dumps(document).replace(json.dumps(secret_ref), json.dumps(secret_arn)))
    assert recorder.denied_by_function(by_function.__getitem__) == []
    assert [r for r in secret_reads if not allowed(by_function[r[0]], r[1], r[2])] == []
    # ...and another secret is not theirs to read.
    assert not allowed(by_function["api_handler"], "secretsmanager:GetSecretValue",
                       secret_arn.replace("rds!db-", "rds!db-other-"))

    # Every service an in-VPC function called has an endpoint in its VPC (S3 also answers CloudFormation).
    called = {service for function, calls in recorder.by_function.items() if function in IN_VPC_FUNCTIONS
              for service, _, _ in calls} | {"secretsmanager"}
    endpoints = {r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]
                 for r in template["Resources"].values() if r["Type"] == "AWS::EC2::VPCEndpoint"}
    assert {"sqs", "s3", "dynamodb", "sns", "secretsmanager"} <= called
    assert called <= endpoints
