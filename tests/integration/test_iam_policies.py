"""The generated policies are current, scoped, and enough for what each function really does."""
import json
import uuid

import boto3

from infra import iam
from infra.stage import CHALICE_DIR, Stage
from tests.events import s3_event, sqs_event, sqs_record
from tests.iam_check import CallRecorder, allowed, replay
from tests.integration.test_packaging import VARIANTS, stage_environment, variant


def policy(stage, function):
    return json.loads((CHALICE_DIR / iam.policy_filename(stage, function)).read_text())


def test_policy_files_match_the_resource_definition_for_every_stage():
    for name in Stage.load().config["stages"]:
        stage = Stage.load(name)
        assert iam.problems(stage, stage.load_app()) == []
    for name in VARIANTS:  # the test-only postgres and traced stages, whose files the tests write
        stage = variant(name)
        with stage_environment(stage):
            assert iam.problems(stage, stage.load_app()) == []


def test_no_policy_grants_a_wildcard_resource_or_action():
    paths = [*CHALICE_DIR.glob("policy-*.json"), *(p for n in VARIANTS for p in variant(n).chalice_dir.glob("policy-*"))]
    starred = set()
    for path in paths:
        for statement in json.loads(path.read_text())["Statement"]:
            if statement["Resource"] == ["*"]:  # only what IAM cannot authorise on anything narrower
                assert set(statement["Action"]) <= iam.STAR_ONLY, path
                starred |= set(statement["Action"])
                continue
            assert all(r != "*" and not r.endswith(":*:*:*") for r in statement["Resource"]), path
            assert all(not a.endswith(":*") for a in statement["Action"]), path
    assert starred == iam.STAR_ONLY  # the variants use each exception, so each is checked here


def test_a_postgres_stage_without_the_migration_functions_policy_is_told_what_to_set():
    stage = variant("pg")
    broken = Stage(stage.name, json.loads(json.dumps(stage.config)), stage.project_dir)
    del broken.config["stages"]["pg"]["lambda_functions"]["migrate_product_db"]
    with stage_environment(broken):
        assert iam.problems(broken, broken.load_app()) == [
            "stage pg: lambda_functions.migrate_product_db.iam_policy_file should be "
            "'policy-pg-migrate_product_db.json', not None"]


@replay
def test_api_handler_policy_suffices_for_every_route(client, stage):
    recorder = CallRecorder().attach()
    accepted = json.loads(client.http.post("/products", headers={"Content-Type": "application/json"},
                                           body='{"name": "x", "price": 1}').body)
    client.http.get(f"/products/{accepted['id']}")
    client.http.get("/products?limit=5")
    assert {op for _, op, _ in recorder.calls} >= {"SendMessage", "GetItem", "Scan"}
    assert recorder.denied(policy(stage, "api_handler")) == []


@replay
def test_product_worker_policy_suffices_for_new_and_duplicate_messages(app, client, stage):
    recorder = CallRecorder().attach().attribute(app)
    body = {"id": str(uuid.uuid4()), "created_at": "2026-01-01T00:00:00Z", "name": "x", "price": "1"}
    try:
        for _ in range(2):  # the duplicate path reads the stored item back
            client.lambda_.invoke("process_product_queue", sqs_event(sqs_record(body, "product-queue")))
    finally:
        recorder.restore()  # undo the tagging wrappers
    assert {op for _, op, _ in recorder.by_function["process_product_queue"]} >= {"PutItem", "GetItem", "PutObject"}
    assert set(recorder.by_function) == {"process_product_queue"}
    assert recorder.denied(policy(stage, "process_product_queue")) == []


def test_policies_deny_what_a_function_does_not_need(stage):
    api = policy(stage, "api_handler")
    assert not allowed(api, "s3:PutObject", "arn:aws:s3:::async-catalog-reports-dev/x.txt")
    assert not allowed(api, "dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/ProductTable")
    assert not allowed(api, "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:other-queue")
    worker = policy(stage, "process_product_queue")
    assert allowed(worker, "sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:123456789012:product-queue")
    assert not allowed(worker, "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:product-queue")


@replay
def test_log_batch_policies_suffice_for_the_whole_flow(app, client, stage, monkeypatch):
    import boto3

    from chalicelib.logbatch import service as logbatch
    from local_runtime.runner import EventRunner
    monkeypatch.setenv("LOG_SPLIT_TIME_BUDGET_SECONDS", "0")  # exercise the continuation function too
    monkeypatch.setenv("LOG_SPLIT_PART_BYTES", "100")  # and an upload read in parts (iam/big.log)
    logbatch.reset()
    recorder = CallRecorder().attach()
    runner = EventRunner(app, boto3.session.Session(), wait_seconds=0, report=lambda line: None).setup()
    recorder.attribute(app)
    try:
        boto3.client("s3").put_object(Bucket="input-logs", Key="iam/app.log",
                                      Body=b"2026-01-01 00:00:00 INFO [A] one\n\n2026-01-01 00:00:01 WARN [B] two\n"
                                           b"free text that no parser knows\n")  # the report reads it back
        runner.drain()
        # S3 delivers an event again now and then: the splitter finds the run done; so does a continuation.
        etag = boto3.client("s3").head_object(Bucket="input-logs", Key="iam/app.log")["ETag"].strip('"')
        client.lambda_.invoke("split_log_upload", s3_event("input-logs", "iam/app.log", etag))
        run_id = client.http.get("/log-batches?key=iam/app.log").json_body["run_id"]
        client.lambda_.invoke("continue_log_split", sqs_event(sqs_record({"run_id": run_id, "token": "old"},
                                                                         "log-split-queue")))
        boto3.client("s3").put_object(Bucket="input-logs", Key="iam/empty.log", Body=b"")  # completes at once
        boto3.client("s3").put_object(Bucket="input-logs", Key="iam/big.log", Body=b"".join(
            b"2026-01-01 00:00:%02d ERROR [C] line %d\n" % (n, n) for n in range(10)))  # planned in parts
        runner.drain()
        assert client.http.get("/log-batches?key=iam/big.log").json_body["processed_items"] == 10
        # Without a budget, one reader sends a file's lines at once: a worker batch holding all of a packed
        # item's lines puts the item whole (BatchWriteItem) instead of merging into it.
        monkeypatch.delenv("LOG_SPLIT_TIME_BUDGET_SECONDS")
        monkeypatch.setenv("LOG_SPLIT_PART_BYTES", str(1 << 20))
        logbatch.reset()
        boto3.client("s3").put_object(Bucket="input-logs", Key="iam/whole.log", Body=b"".join(
            b"2026-01-01 00:00:%02d INFO [D] line %d\n" % (n, n) for n in range(12)))
        runner.drain()
        assert client.http.get("/log-batches/lines?key=iam/big.log&level=ERROR").status_code == 200
        client.http.get("/log-batches?key=iam/app.log")
        assert client.http.get("/log-batches/lines?key=iam/app.log&level=WARN").status_code == 200
    finally:
        recorder.restore()  # undo the tagging wrappers
    assert {"split_log_upload", "continue_log_split", "process_log_lines", "api_handler"} <= set(recorder.by_function)
    assert recorder.denied_by_function(lambda function: policy(stage, function)) == []


@replay
def test_invoice_policies_suffice_for_the_whole_flow(app, client, stage, monkeypatch):
    import boto3

    from chalicelib.invoices import service as invoices
    from local_runtime.runner import EventRunner
    monkeypatch.setenv("INVOICE_INGEST_TIME_BUDGET_SECONDS", "0")  # exercise the continuation function too
    invoices.reset()
    recorder = CallRecorder().attach()
    runner = EventRunner(app, boto3.session.Session(), wait_seconds=0, report=lambda line: None).setup()
    recorder.attribute(app)
    try:
        # NF-1 again on the last row: a continuation meets its stored item (the INSERT is refused) and puts it.
        boto3.client("s3").put_object(Bucket="notas-fiscais", Key="iam/notas.csv",
                                      Body=b"numero;cliente;valor;data_emissao\nNF-1;Ana;1,00;01/10/2025\n"
                                           b"NF-2;;x;31/02/2025\nNF-5;Caio;3,00;03/10/2025\n"
                                           b"NF-1;Ana;1,50;01/10/2025\n")
        runner.drain()
        # Without a budget: one invocation reads a whole file, rejected rows and report included.
        monkeypatch.delenv("INVOICE_INGEST_TIME_BUDGET_SECONDS")
        invoices.reset()
        s3 = boto3.client("s3")
        etag = s3.put_object(Bucket="notas-fiscais", Key="iam/whole.csv",
                             Body=b"numero;cliente;valor;data_emissao\nNF-3;Bia;2,00;02/10/2025\nNF-4;;x;1\n")["ETag"]
        runner.drain()
        # S3 delivers an event again now and then: the reader finds the run done.
        client.lambda_.invoke("ingest_invoice_upload", s3_event("notas-fiscais", "iam/whole.csv", etag.strip('"')))
        for path in ("/invoice-uploads?key=iam/notas.csv", "/invoices/NF-1",
                     "/invoices/NF-1?issuer=11222333000181&series=1",  # issuer and series known: a GetItem
                     "/invoices?customer=Ana&from=2025-01-01",
                     "/invoices?limit=5", "/invoice-uploads?key=iam/whole.csv"):
            assert client.http.get(path).status_code == 200, path
    finally:
        recorder.restore()  # undo the tagging wrappers
    assert {"ingest_invoice_upload", "continue_invoice_ingest", "api_handler"} <= set(recorder.by_function)
    assert recorder.denied_by_function(lambda function: policy(stage, function)) == []


@replay
def test_the_upload_failure_recorder_policy_suffices_for_both_readers(app, client, stage):
    recorder = CallRecorder().attach().attribute(app)
    s3 = boto3.client("s3")
    records = []
    try:
        for bucket, key in (("input-logs", "iam/gone.log"), ("notas-fiscais", "iam/gone.csv")):
            etag = s3.put_object(Bucket=bucket, Key=key, Body=b"x\n")["ETag"].strip('"')
            records.append(sqs_record(json.dumps({
                "version": "1.0", "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
                "requestPayload": {"Records": [{"eventTime": "2026-11-20T10:00:00.000Z", "s3": {
                    "bucket": {"name": bucket}, "object": {"key": key, "eTag": etag, "sequencer": "0A1"}}}]},
                "responsePayload": {"errorType": "RuntimeError", "errorMessage": "boom"}}), "upload-failures",
                f"m{len(records)}"))
        # Twice: a run never started is created failed, then found failed already.
        for _ in range(2):
            assert client.lambda_.invoke("record_upload_failure", sqs_event(*records)).payload == {
                "batchItemFailures": []}
    finally:
        recorder.restore()  # undo the tagging wrappers
    tables = {params["TableName"] for _, _, params in recorder.by_function["record_upload_failure"]
              if "TableName" in params}
    assert tables >= {"LogBatchesTable", "InvoiceUploadsTable"}
    assert recorder.denied_by_function(lambda function: policy(stage, function)) == []


def test_the_orders_worker_knows_its_queues_max_receive_count_in_every_stage():
    from infra.resources import RESOURCES
    for name in Stage.load().config["stages"]:
        # The worker marks an order FAILED on the last receive; a different number would do it too early or never.
        assert int(Stage.load(name).environment["ORDERS_MAX_RECEIVE_COUNT"]) == RESOURCES["OrdersQueue"].max_receive_count
