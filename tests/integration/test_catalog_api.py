import json

import boto3
import pytest

from tests.events import sqs_event, sqs_record

JSON = {"Content-Type": "application/json"}
VALID = {"name": "Caneta azul", "price": 19.90, "description": "Esferográfica", "sku": "CAN-001",
         "category": "papelaria", "stock": 100}


def post(client, body, headers=None):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.http.post("/products", headers={**JSON, **(headers or {})}, body=raw)


def queued_messages(queue_url, max_messages=10):
    sqs = boto3.client("sqs")
    return sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=max_messages).get("Messages", [])


def process_queue(client, queue_url):
    """Deliver what is queued to the worker, as Lambda would."""
    messages = queued_messages(queue_url)
    records = [sqs_record(m["Body"], "product-queue", m["MessageId"]) for m in messages]
    if records:
        client.lambda_.invoke("process_product_queue", sqs_event(*records))
    return messages


def test_post_answers_202_and_queues_the_exact_product(client, aws_resources):
    response = post(client, '{"name": "Caneta azul", "price": 19.90, "stock": 3}')
    assert response.status_code == 202
    body = json.loads(response.body)
    assert body["status"] == "PENDING"
    assert response.headers["Location"] == f"/products/{body['id']}"
    [message] = queued_messages(aws_resources["ProductQueue"])
    queued = json.loads(message["Body"])
    assert queued["id"] == body["id"]
    assert queued["name"] == "Caneta azul"
    assert queued["price"] == "19.90"  # Decimal, as text: never a float
    assert queued["stock"] == 3
    assert queued["created_at"].endswith("Z")


def test_location_header_leads_to_the_product_once_processed(client, aws_resources):
    response = post(client, VALID)
    location = response.headers["Location"]
    assert client.http.get(location).status_code == 404  # accepted, not yet processed
    process_queue(client, aws_resources["ProductQueue"])
    fetched = client.http.get(location)
    assert fetched.status_code == 200
    product = json.loads(fetched.body)
    assert product["price"] == "19.90"
    assert product["name"] == "Caneta azul" and product["stock"] == 100
    assert product["report"] == {"bucket": "async-catalog-reports-dev", "key": f"{product['id']}.txt"}


@pytest.mark.parametrize("body, headers, status, field, problem", [
    ("{not json", None, 400, "body", "not valid JSON"),
    ("[1, 2]", None, 400, "body", "not an object"),
    ("", None, 400, "body", "empty"),
    ({"price": 1}, None, 400, "name", "required"),
    ({"name": "   ", "price": 1}, None, 400, "name", "at least 1 character"),
    ({"name": "x" * 201, "price": 1}, None, 400, "name", "at most 200 characters"),
    ({"name": "x", "price": -1}, None, 400, "price", "zero or more"),
    ({"name": "x", "price": "abc"}, None, 400, "price", "must be a number"),
    ('{"name": "x", "price": 1.999}', None, 400, "price", "at most 2 decimal places"),
    ({"name": "x"}, None, 400, "price", "required"),
    ({"name": 42, "price": 1}, None, 400, "name", "valid string"),
    ({"name": "x", "price": 1, "stock": 1.5}, None, 400, "stock", "valid integer"),
    ({"name": "x", "price": 1, "stock": "5"}, None, 400, "stock", "valid integer"),
    ({"name": "x", "price": 1, "stock": -2}, None, 400, "stock", "greater than or equal to 0"),
    ({"name": "x", "price": True}, None, 400, "price", "must be a number"),
    ({"name": "x", "price": 1, "colour": "red"}, None, 400, "colour", "not a known field"),
    ('{"name": "x", "price": NaN}', None, 400, "body", "not valid JSON"),
    ({"name": "x", "price": 1}, {"Idempotency-Key": "k" * 300}, 400, "Idempotency-Key", "1 to 255"),
    ({"name": "x" * 70_000, "price": 1}, None, 413, None, None),
])
def test_invalid_bodies_get_a_4xx_naming_the_field(client, aws_resources, body, headers, status, field, problem):
    response = post(client, body, headers)
    assert response.status_code == status
    error = json.loads(response.body)
    assert error["Code"] and error["Message"]
    if field:
        assert any(e["field"] == field and problem in e["problem"] for e in error["errors"]), error
    assert queued_messages(aws_resources["ProductQueue"]) == []


def test_wrong_content_type_gets_415(client, aws_resources):
    response = client.http.post("/products", headers={"Content-Type": "text/plain"}, body="name=x")
    assert response.status_code == 415
    assert json.loads(response.body)["Code"] == "UnsupportedMediaType"


def test_unicode_names_are_accepted_and_kept(client, aws_resources):
    response = post(client, {"name": "Café ☕ 東京 Ünïcödé", "price": "5.5"})
    assert response.status_code == 202
    [message] = queued_messages(aws_resources["ProductQueue"])
    assert json.loads(message["Body"])["name"] == "Café ☕ 東京 Ünïcödé"
    assert json.loads(message["Body"])["price"] == "5.50"


def test_get_rejects_an_id_that_is_not_a_uuid(client, aws_resources):
    response = client.http.get("/products/not-a-uuid")
    assert response.status_code == 400
    assert json.loads(response.body)["errors"] == [{"field": "id", "problem": "must be a UUID"}]


def test_get_unknown_product_is_404_json(client, aws_resources):
    response = client.http.get("/products/7d5b1c2e-1111-4222-8333-944455556666")
    assert response.status_code == 404
    assert json.loads(response.body)["Code"] == "NotFound"


def test_same_idempotency_key_yields_the_same_id_and_one_product(client, aws_resources):
    first = post(client, VALID, {"Idempotency-Key": "req-123"})
    second = post(client, VALID, {"Idempotency-Key": "req-123"})
    other = post(client, VALID, {"Idempotency-Key": "req-456"})
    first_id, second_id = json.loads(first.body)["id"], json.loads(second.body)["id"]
    assert first_id == second_id != json.loads(other.body)["id"]
    process_queue(client, aws_resources["ProductQueue"])
    listed = json.loads(client.http.get("/products?limit=100").body)["items"]
    assert sorted(p["id"] for p in listed) == sorted({first_id, json.loads(other.body)["id"]})


def test_list_pages_through_every_product_once(client, aws_resources):
    ids = {json.loads(post(client, {"name": f"p{i}", "price": i}).body)["id"] for i in range(7)}
    process_queue(client, aws_resources["ProductQueue"])
    seen, cursor, pages = [], None, 0
    while True:
        path = "/products?limit=3" + (f"&next={cursor}" if cursor else "")
        page = json.loads(client.http.get(path).body)
        assert len(page["items"]) <= 3
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    assert pages >= 3


@pytest.mark.parametrize("query, field", [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                                          ("next=garbage!", "next"), ("next=eyJ4IjogMX0", "next")])
def test_list_rejects_bad_limits_and_cursors(client, aws_resources, query, field):
    response = client.http.get(f"/products?{query}")
    assert response.status_code == 400
    assert json.loads(response.body)["errors"][0]["field"] == field
