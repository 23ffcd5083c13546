"""Every list route's page under the byte cap (issue 19, item 4), with the largest items each store accepts.

The routes' services are called below their authorizer (its own tests cover
it); each page is measured as the Lambda answer would carry it, and the
cursors must walk every item exactly once.
"""
import gzip
import json
import uuid

import boto3

from chalicelib.catalog.service import catalog
from chalicelib.http import json_response
from chalicelib.invoices import service as invoices
from chalicelib.orders import service as orders
from chalicelib.pagination import PAGE_BYTES

EMOJI = "\U0001F600"  # 4 bytes of UTF-8, 12 in the answer's ASCII-escaped envelope
MARGIN = 2_000  # the page's own braces, `next` and keys around its items


def answer_bytes(page: dict) -> int:
    return len(json.dumps(json_response(page).body))


def walk(read) -> tuple[list[dict], list[int]]:
    """Every item of a listing, and each page's size in the answer."""
    items, sizes, cursor = [], [], None
    while True:
        page = read(cursor)
        sizes.append(answer_bytes(page))
        items += page["items"]
        cursor = page["next"]
        if not cursor:
            return items, sizes


def test_orders_of_a_hundred_long_product_ids_fill_pages_by_bytes(aws_resources):
    # An order holds up to 100 items whose productId is up to 128 characters: ~155 KB an order in the answer.
    db = boto3.client("dynamodb")
    created = []
    for n in range(12):
        order_id = str(uuid.UUID(int=n + 1))
        created.append(order_id)
        db.put_item(TableName="OrdersTable", Item={
            "orderId": {"S": order_id}, "customerId": {"S": "big-customer"}, "status": {"S": "COMPLETED"},
            "createdAt": {"S": f"2026-11-20T10:00:{n:02d}.000Z"}, "updatedAt": {"S": "2026-11-20T10:01:00.000Z"},
            "items": {"L": [{"M": {"productId": {"S": f"{i:03d}" + EMOJI * 125}, "quantity": {"N": "1"},
                                   "unitPrice": {"N": "1.00"}}} for i in range(100)]},
            "total": {"N": "100.00"}, "history": {"L": []}})
    listed, sizes = walk(lambda cursor: orders.orders().list("big-customer", "100", cursor))
    assert sorted(o["orderId"] for o in listed) == created and len(listed) == 12  # each once
    assert len(sizes) >= 2 and max(sizes) <= PAGE_BYTES + MARGIN


def test_products_with_the_longest_texts_fill_pages_by_bytes(aws_resources):
    db = boto3.client("dynamodb")
    for n in range(60):
        db.put_item(TableName="ProductTable", Item={
            "id": {"S": str(uuid.UUID(int=n + 1))}, "name": {"S": EMOJI * 200}, "price": {"N": "9.90"},
            "description": {"S": EMOJI * 2000}, "created_at": {"S": "2026-11-20T10:00:00.000Z"},
            "stored_at": {"S": "2026-11-20T10:00:01.000Z"}})
    listed, sizes = walk(lambda cursor: catalog().list("100", cursor))
    assert len({p["id"] for p in listed}) == len(listed) == 60
    assert len(sizes) >= 2 and max(sizes) <= PAGE_BYTES + MARGIN


def test_invoices_with_the_longest_texts_fill_pages_by_bytes(aws_resources):
    rows = ["numero,cliente,valor,data_emissao,descricao"]
    rows += [f"NF-{n},{EMOJI * 200},10.00,2026-11-20,{EMOJI * 1000}" for n in range(1, 121)]
    boto3.client("s3").put_object(Bucket="notas-fiscais", Key="big/notas.csv.gz",
                                  Body=gzip.compress(("\n".join(rows) + "\n").encode()))
    assert invoices.invoice_ingester().on_upload("notas-fiscais", "big/notas.csv.gz") == "completed"
    listed, sizes = walk(lambda cursor: invoices.invoice_reader().list(
        {"limit": "100", **({"next": cursor} if cursor else {})}))
    assert sorted(i["number"] for i in listed) == sorted(f"NF-{n}" for n in range(1, 121))
    assert len(sizes) >= 2 and max(sizes) <= PAGE_BYTES + MARGIN
