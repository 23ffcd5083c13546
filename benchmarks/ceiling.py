"""How fast the emulator itself goes, to judge the pipeline's lines/s against.

A pipeline on the local emulator can be no faster than the emulator's own
calls, so its lines/s means little alone: 300 lines/s is poor if SQS moves
3,000 messages/s, and good if it moves 400. These two loops measure the
calls the log pipeline is built from, on one client with nothing else
running (the pipeline's runner is stopped by then), against the same
emulator process(es) the pipeline used:

- SQS: SendMessageBatch of 10, then ReceiveMessage of 10 + DeleteMessageBatch
  of 10 until every message is back, on a scratch queue: messages/s through
  the whole send → receive → delete cycle (what one line costs at 1 line per
  message);
- DynamoDB: BatchWriteItem of 25 items of about 300 bytes (a line record's
  size) into a scratch table: items/s (what a packed pipeline's writes cost).

Scratch resources are deleted afterwards.

    .venv/bin/python -m benchmarks.ceiling    # against AWS_ENDPOINT_URL[_DYNAMODB], e.g. a running `make run`
"""
import json
import sys
import time
import uuid

SQS_MESSAGES = 5_000
DYNAMODB_ITEMS = 10_000


def sqs_ceiling(session, messages: int = SQS_MESSAGES, body_bytes: int = 300) -> dict:
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName=f"bench-ceiling-{uuid.uuid4().hex[:8]}",
                           Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    body = json.dumps({"run_id": "ceiling", "lines": [{"number": 1, "text": "x" * body_bytes}]})
    try:
        started = time.perf_counter()
        for start in range(0, messages, 10):
            entries = [{"Id": str(i), "MessageBody": body} for i in range(min(10, messages - start))]
            response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"ceiling: SendMessageBatch failed: {response['Failed'][:1]}")
        sent = time.perf_counter()
        received = receives = 0
        deadline = time.monotonic() + 300
        while received < messages:
            if time.monotonic() > deadline:
                raise RuntimeError(f"ceiling: only {received} of {messages} messages came back")
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            receives += 1
            if batch:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
                received += len(batch)
        done = time.perf_counter()
    finally:
        sqs.delete_queue(QueueUrl=url)
    return {"messages": messages, "seconds": done - started, "messages_per_second": messages / (done - started),
            "send_seconds": sent - started, "receive_delete_seconds": done - sent, "receive_calls": receives,
            "endpoint": sqs.meta.endpoint_url}


def batch_write_ceiling(session, items: int = DYNAMODB_ITEMS, item_bytes: int = 300) -> dict:
    dynamodb = session.client("dynamodb")
    table = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    # id (2 + 20) + n (1 + 4) + payload (7 + filler) ≈ item_bytes
    filler = "y" * (item_bytes - 34)
    try:
        started = time.perf_counter()
        calls = 0
        for start in range(0, items, 25):
            requests = [{"PutRequest": {"Item": {"id": {"S": f"item-{n:015d}"}, "n": {"N": str(n)},
                                                 "payload": {"S": filler}}}}
                        for n in range(start, min(items, start + 25))]
            while requests:
                calls += 1
                requests = dynamodb.batch_write_item(RequestItems={table: requests}).get(
                    "UnprocessedItems", {}).get(table, [])
        elapsed = time.perf_counter() - started
    finally:
        dynamodb.delete_table(TableName=table)
    return {"items": items, "calls": calls, "seconds": elapsed, "items_per_second": items / elapsed,
            "endpoint": dynamodb.meta.endpoint_url}


def ceilings(session, sqs_messages: int = SQS_MESSAGES, dynamodb_items: int = DYNAMODB_ITEMS) -> dict:
    return {"sqs": sqs_ceiling(session, sqs_messages), "batch_write": batch_write_ceiling(session, dynamodb_items)}


def describe(result: dict) -> list[str]:
    sqs, ddb = result["sqs"], result["batch_write"]
    return [
        f"ceiling SQS (one client, batches of 10, {sqs['endpoint']}): {sqs['messages_per_second']:,.0f} messages/s "
        f"send+receive+delete ({sqs['messages']:,} in {sqs['seconds']:.1f} s: send {sqs['send_seconds']:.1f} s, "
        f"receive+delete {sqs['receive_delete_seconds']:.1f} s)",
        f"ceiling BatchWriteItem (one client, 25 × ~300 B, {ddb['endpoint']}): {ddb['items_per_second']:,.0f} items/s "
        f"({ddb['items']:,} in {ddb['seconds']:.1f} s, {ddb['calls']} calls)",
    ]


if __name__ == "__main__":
    import boto3
    print("\n".join(describe(ceilings(boto3.session.Session()))))
    sys.exit(0)
