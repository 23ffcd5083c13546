"""The catalog on PRODUCT_STORE=postgres through the app's own routes and worker: the same API, the same
guarantees as on DynamoDB, and a down or slow database answered as 503 / a retried batch item."""
import json
import threading
import uuid
from decimal import Decimal

import boto3
import pytest

from chalicelib.batch import BatchFailed
from chalicelib.catalog.postgres import PostgresProductRepository
from chalicelib.catalog.service import catalog
from chalicelib.db.connection import database
from chalicelib.db.migrate import MIGRATIONS, migrate
from tests.events import sqs_event, sqs_record
from tests.postgres import admin_connection, free_port

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def pg_client(postgres_products, client):
    return client


def product_message(**overrides):
    return {"id": str(uuid.uuid4()), "created_at": "2026-11-23T10:00:00.000Z", "name": "Caderno",
            "price": "12.50", "stock": 4, **overrides}


def invoke(client, *bodies):
    event = sqs_event(*(sqs_record(body, "product-queue", f"m-{i}") for i, body in enumerate(bodies)))
    return client.lambda_.invoke("process_product_queue", event).payload


def rows(server):
    connection = admin_connection(server)
    try:
        return connection.run("SELECT id::text, name, price FROM products ORDER BY created_at, id")
    finally:
        connection.close()


def report_keys():
    listing = boto3.client("s3").list_objects_v2(Bucket="async-catalog-reports-dev")
    return [o["Key"] for o in listing.get("Contents", [])]


def test_the_stage_setting_selects_the_repository(postgres_products, monkeypatch):
    from chalicelib.catalog.repository import ProductRepository
    assert isinstance(catalog().products, PostgresProductRepository)
    monkeypatch.setenv("PRODUCT_STORE", "dynamodb")
    catalog.cache_clear()
    assert isinstance(catalog().products, ProductRepository)
    monkeypatch.delenv("PRODUCT_STORE")
    catalog.cache_clear()
    assert isinstance(catalog().products, ProductRepository)  # the default


def test_post_then_worker_then_get_and_list(pg_client, postgres_server, aws_resources):
    response = pg_client.http.post("/products", headers=JSON,
                                   body='{"name": "Caneta azul", "price": 19.90, "stock": 3}')
    assert response.status_code == 202
    product_id = json.loads(response.body)["id"]
    [message] = boto3.client("sqs").receive_message(QueueUrl=aws_resources["ProductQueue"])["Messages"]
    assert invoke(pg_client, message["Body"]) == {"batchItemFailures": []}
    fetched = json.loads(pg_client.http.get(f"/products/{product_id}").body)
    assert fetched["price"] == "19.90" and fetched["stock"] == 3 and fetched["id"] == product_id
    assert fetched["report"]["key"] == f"{product_id}.txt"
    assert rows(postgres_server) == [[product_id, "Caneta azul", Decimal("19.90")]]
    assert boto3.client("dynamodb").scan(TableName="ProductTable")["Items"] == []  # nothing went to DynamoDB
    listed = json.loads(pg_client.http.get("/products?limit=5").body)
    assert [p["id"] for p in listed["items"]] == [product_id] and listed["next"] is None


def test_a_redelivery_leaves_one_row_and_one_report_with_the_first_version(pg_client, postgres_server):
    message = product_message()
    assert invoke(pg_client, message) == {"batchItemFailures": []}
    assert invoke(pg_client, {**message, "name": "Changed later"}) == {"batchItemFailures": []}
    assert [row[1] for row in rows(postgres_server)] == ["Caderno"]
    assert report_keys() == [f"{message['id']}.txt"]
    report = boto3.client("s3").get_object(Bucket="async-catalog-reports-dev", Key=f"{message['id']}.txt")
    assert "name:        Caderno" in report["Body"].read().decode()


def test_listing_pages_by_keyset_through_the_api(pg_client):
    ids = [product_message(created_at="2026-11-23T10:00:00.000Z")["id"] for _ in range(5)]
    invoke(pg_client, *[product_message(id=i, created_at="2026-11-23T10:00:00.000Z") for i in ids])
    invoke(pg_client, *[product_message(created_at=f"2026-11-23T09:00:0{i}.000Z") for i in range(4)])
    seen, cursor = [], None
    while True:
        page = json.loads(pg_client.http.get("/products?limit=2" + (f"&next={cursor}" if cursor else "")).body)
        seen += [(p["created_at"], p["id"]) for p in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == sorted(seen) and len(set(seen)) == 9  # ordered by (created_at, id), each once
    bad = pg_client.http.get("/products?next=eyJ4IjogMX0")
    assert bad.status_code == 400 and json.loads(bad.body)["errors"][0]["field"] == "next"


def test_migrations_are_versioned_and_idempotent(postgres_products):
    assert migrate(postgres_products) == []
    versions = postgres_products.run("SELECT version FROM schema_migrations ORDER BY version")
    assert [v for [v] in versions] == [version for version, _, _ in MIGRATIONS]
    columns = dict(postgres_products.run(
        "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns"
        " JOIN pg_attribute ON attrelid = 'products'::regclass AND attname = column_name"
        " WHERE table_name = 'products'"))
    assert columns["id"] == "uuid" and columns["price"] == "numeric(12,2)"
    assert columns["created_at"] == "timestamp with time zone" and columns["stock"] == "integer"


def test_a_database_that_is_down_is_a_503_and_a_retried_batch_item(pg_client, monkeypatch, postgres_server):
    message, other = product_message(), product_message()
    monkeypatch.setenv("PRODUCT_DB_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("PRODUCT_DB_CONNECT_TIMEOUT_SECONDS", "1")
    from tests.postgres import _reset_app_caches
    _reset_app_caches()
    for path in (f"/products/{message['id']}", "/products"):
        response = pg_client.http.get(path)
        assert response.status_code == 503, response.body
        assert json.loads(response.body)["Code"] == "ServiceUnavailable"
        assert "Traceback" not in response.body.decode()
    # Each record fails on its own; all failing, the handler raises so SQS redelivers the whole batch.
    with pytest.raises(BatchFailed, match="all 2 records"):
        invoke(pg_client, message, other)

    monkeypatch.setenv("PRODUCT_DB_PORT", str(postgres_server.port))  # the database is back
    _reset_app_caches()
    assert invoke(pg_client, message, other) == {"batchItemFailures": []}  # the redelivery stores both
    assert sorted(row[0] for row in rows(postgres_server)) == sorted([message["id"], other["id"]])


def test_a_slow_database_is_cut_off_by_the_statement_timeout(pg_client, monkeypatch, postgres_server):
    monkeypatch.setenv("PRODUCT_DB_STATEMENT_TIMEOUT_MS", "300")
    from tests.postgres import _reset_app_caches
    _reset_app_caches()
    blocker = admin_connection(postgres_server)
    try:
        blocker.run("BEGIN")
        blocker.run("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")  # every read now waits
        # the lock is held until after the answer: without the timeout, the read would wait for ever
        response = pg_client.http.get(f"/products/{uuid.uuid4()}")
        assert response.status_code == 503
        blocker.run("ROLLBACK")
    finally:
        blocker.close()
    assert pg_client.http.get("/products").status_code == 200  # the same connection serves again


def test_a_connection_killed_between_invocations_is_reopened(pg_client, postgres_server):
    assert pg_client.http.get("/products").status_code == 200
    [[pid]] = database().run("SELECT pg_backend_pid()")
    admin = admin_connection(postgres_server)
    try:
        admin.run("SELECT pg_terminate_backend(:pid)", pid=pid)
    finally:
        admin.close()
    assert pg_client.http.get("/products").status_code == 200
    [[new_pid]] = database().run("SELECT pg_backend_pid()")
    assert new_pid != pid


def test_one_connection_is_reused_across_invocations(pg_client):
    for _ in range(3):
        pg_client.http.get("/products")
    count = database().run("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'async-catalog'")
    assert count == [[1]]


def test_threads_of_one_process_share_a_few_connections_without_mixing_answers(postgres_products):
    # chalice local and the event runner call handlers from threads: no statement may see another's rows.
    answers, errors = {}, []

    def ask(n):
        try:
            for _ in range(20):
                [[value]] = postgres_products.run("SELECT CAST(:n AS integer)", n=n)
                answers.setdefault(n, set()).add(value)
        except Exception as error:  # reported below: a thread's exception would otherwise vanish
            errors.append(error)
    threads = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and answers == {n: {n} for n in range(4)}
    assert 1 <= len(postgres_products._open) <= 4
