"""A do-nothing AWS endpoint for `make bench-cpu`: valid minimal answers, no latency, no moto.

    .venv/bin/python -m benchmarks.awsstub [--port 0]     # prints "PORT <n>" once it listens

It answers the calls the app's handlers make, in the protocols botocore speaks
(so the handlers' own serialisation and parsing run exactly as on AWS):

- SQS (JSON protocol): GetQueueUrl, GetQueueAttributes, SendMessage(Batch),
  ReceiveMessage, DeleteMessage(Batch), ChangeMessageVisibility(Batch). Sent
  messages are kept per queue, so the benchmark can hand a splitter's output
  to the worker; receives pop them (no visibility timeout).
- DynamoDB (JSON 1.0): Get/Put/Update/DeleteItem, BatchWrite/BatchGetItem,
  Query, Scan, DescribeTable, and BatchExecuteStatement's parameterised
  INSERTs (a key already held answers DuplicateItem, as on AWS). Items are kept, and UpdateItem applies its
  expression (SET with if_not_exists/list_append/+/-, ADD, REMOVE, DELETE on
  top-level attributes), because the handlers act on what `ALL_NEW` returns
  (the log worker rolls a chunk up when its slots are complete). Condition
  expressions are NOT evaluated (every conditional write succeeds: the
  benchmark's runs are all first deliveries); FilterExpression and
  ProjectionExpression are ignored (whole items come back).
- S3 (REST, path style): PutObject (aws-chunked bodies decoded), GetObject
  (Range, If-Match), HeadObject.
- SNS Publish and STS GetCallerIdentity (query protocol); a user pool's
  `/.well-known/jwks.json` (the keys given by `POST /__stub/jwks`).

A separate process, so its CPU never shows in the benchmark's
`time.process_time()`; `GET /__stub/stats` reports its own CPU (getrusage)
and what it was asked: calls per API, messages per queue, items per table.
Control paths start with `/__stub/` (not a valid bucket name):
`POST /__stub/tables` (schemas, sink tables whose items are counted, not kept),
`POST /__stub/reset` (counts; `?data=1` also items, objects and queues),
`GET /__stub/queue?name=Q&max=N` (pop messages without counting a call).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import resource
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from decimal import Decimal
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

ACCOUNT = "000000000000"
REGION = "us-east-1"


# --- typed values ---------------------------------------------------------------------------------------

def _number(value: dict) -> Decimal:
    return Decimal(value["N"])


def compare_key(value: dict):
    """A sortable form of a key attribute (S, N or B)."""
    (kind, inner), = value.items()
    if kind == "N":
        return (1, Decimal(inner))
    if kind == "B":
        return (2, base64.b64decode(inner) if isinstance(inner, str) else bytes(inner))
    return (0, str(inner).encode("utf-8"))


def _set_union(kind: str, old: list, new: list) -> list:
    seen = {Decimal(v) if kind == "NS" else v for v in old}
    out = list(old)
    for v in new:
        k = Decimal(v) if kind == "NS" else v
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


def _set_minus(kind: str, old: list, gone: list) -> list:
    drop = {Decimal(v) if kind == "NS" else v for v in gone}
    return [v for v in old if (Decimal(v) if kind == "NS" else v) not in drop]


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split at `sep` outside parentheses."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)


def apply_update(item: dict, expression: str, names: dict, values: dict) -> set[str]:
    """Apply an UpdateExpression to `item` in place; the names of the attributes it touched."""
    def name(token: str) -> str:
        token = token.strip()
        return names.get(token, token)

    def operand(text: str):
        text = text.strip()
        match = re.fullmatch(r"if_not_exists\s*\((.*)\)", text, re.IGNORECASE)
        if match:
            path, default = _split_top(match.group(1))
            return item.get(name(path)) or operand(default)
        match = re.fullmatch(r"list_append\s*\((.*)\)", text, re.IGNORECASE)
        if match:
            first, second = (operand(p) for p in _split_top(match.group(1)))
            return {"L": (first or {"L": []})["L"] + (second or {"L": []})["L"]}
        for op in ("+", "-"):
            parts = _split_top(text, op)
            if len(parts) == 2:
                left, right = operand(parts[0]), operand(parts[1])
                result = _number(left) + _number(right) if op == "+" else _number(left) - _number(right)
                return {"N": str(result)}
        if text.startswith(":"):
            return values[text]
        return item.get(name(text))

    touched: set[str] = set()
    pieces = _CLAUSE.split(expression)
    for keyword, body in zip(pieces[1::2], pieces[2::2]):
        keyword = keyword.upper()
        for action in _split_top(body):
            if keyword == "SET":
                path, value = action.split("=", 1)
                attribute = name(path)
                item[attribute] = operand(value)
            elif keyword == "REMOVE":
                attribute = name(action)
                item.pop(attribute, None)
            else:
                path, value = action.split(None, 1)
                attribute = name(path)
                given = values[value.strip()]
                (kind, inner), = given.items()
                old = item.get(attribute)
                if keyword == "ADD":
                    if kind == "N":
                        item[attribute] = {"N": str((_number(old) if old else Decimal(0)) + Decimal(inner))}
                    else:
                        item[attribute] = {kind: _set_union(kind, old[kind] if old else [], inner)}
                elif old:  # DELETE from a set
                    left = _set_minus(kind, old[kind], inner)
                    if left:
                        item[attribute] = {kind: left}
                    else:
                        item.pop(attribute, None)
            touched.add(attribute)
    return touched


_BETWEEN = re.compile(r"^(\S+)\s+BETWEEN\s+(\S+)\s+AND\s+(\S+)$", re.IGNORECASE)
_BEGINS = re.compile(r"^begins_with\s*\(\s*([^,\s]+)\s*,\s*([^)\s]+)\s*\)$", re.IGNORECASE)
_COMPARE = re.compile(r"^(\S+?)\s*(<=|>=|=|<|>)\s*(\S+)$")


_INSERT = re.compile(r"""INSERT INTO "([^"]+)" VALUE \{(.*)\}""", re.DOTALL)
_INSERT_ATTRIBUTE = re.compile(r"'((?:[^']|'')*)'\s*:\s*\?")


def partiql_insert(statement: str, parameters: list) -> tuple[str, dict]:
    """(table, item) of `INSERT INTO "t" VALUE {'a': ?, ...}` with its parameters, the one PartiQL form the
    app sends (chalicelib/adapters/dynamo.py insert_all)."""
    match = _INSERT.fullmatch(statement.strip())
    if not match:
        raise Failure(400, "ValidationException", f"the stub reads only parameterised INSERTs: {statement!r}")
    names = [n.replace("''", "'") for n in _INSERT_ATTRIBUTE.findall(match.group(2))]
    if len(names) != len(parameters):
        raise Failure(400, "ValidationException", "Number of parameters in request and statement don't match.")
    return match.group(1), dict(zip(names, parameters))


def key_condition(expression: str, names: dict, values: dict):
    """A predicate over items for a KeyConditionExpression; also the hash key's name and value."""
    raw = re.split(r"\s+AND\s+", expression.strip(), flags=re.IGNORECASE)
    parts, i = [], 0
    while i < len(raw):
        if re.search(r"\bBETWEEN\b", raw[i], re.IGNORECASE):
            parts.append(f"{raw[i]} AND {raw[i + 1]}")
            i += 2
        else:
            parts.append(raw[i])
            i += 1
    tests = []
    for part in parts:
        part = part.strip()
        while part.startswith("(") and part.endswith(")"):  # a wrapped comparison: (#a = :a)
            part = part[1:-1].strip()
        if m := _BETWEEN.match(part):
            attr, low, high = names.get(m[1], m[1]), compare_key(values[m[2]]), compare_key(values[m[3]])
            tests.append(lambda item, a=attr, lo=low, hi=high: a in item and lo <= compare_key(item[a]) <= hi)
        elif m := _BEGINS.match(part):
            attr, prefix = names.get(m[1], m[1]), values[m[2]]
            text = next(iter(prefix.values()))
            tests.append(lambda item, a=attr, p=text: a in item and str(next(iter(item[a].values()))).startswith(p))
        elif m := _COMPARE.match(part):
            attr, op, value = names.get(m[1], m[1]), m[2], compare_key(values[m[3]])
            ops = {"=": lambda x, y: x == y, "<": lambda x, y: x < y, "<=": lambda x, y: x <= y,
                   ">": lambda x, y: x > y, ">=": lambda x, y: x >= y}
            tests.append(lambda item, a=attr, f=ops[op], v=value: a in item and f(compare_key(item[a]), v))
        else:
            raise ValueError(f"key condition not understood by the stub: {part!r}")
    return lambda item: all(t(item) for t in tests)


# --- state ----------------------------------------------------------------------------------------------

class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.tables: dict[str, dict] = {}        # name -> {"keys": [hash, range?], "indexes": {name: [h, r?]}}
        self.sinks: set[str] = set()             # tables whose written items are counted, not kept
        self.items: dict[str, dict] = defaultdict(dict)   # table -> key tuple -> item
        self.queues: dict[str, deque] = defaultdict(deque)
        self.objects: dict[tuple[str, str], dict] = {}
        self.jwks: dict = {"keys": []}
        self.reset_counts()

    def reset_counts(self) -> None:
        with self.lock:
            self.calls: Counter = Counter()          # "Service:Operation" -> calls
            self.sqs_sent: Counter = Counter()       # queue -> messages accepted
            self.items_written: Counter = Counter()  # "table Operation" -> items written
            self.s3_puts: Counter = Counter()        # bucket -> objects put
            self.sns_published: Counter = Counter()  # topic -> messages
            self.bytes_in = 0

    def count(self, api: str) -> None:
        with self.lock:
            self.calls[api] += 1

    def reset_data(self) -> None:
        with self.lock:
            self.items.clear()
            self.queues.clear()
            self.objects.clear()

    def stats(self) -> dict:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with self.lock:
            return {"calls": dict(self.calls), "sqs_sent": dict(self.sqs_sent),
                    "items_written": dict(self.items_written), "s3_puts": dict(self.s3_puts),
                    "sns_published": dict(self.sns_published), "bytes_in": self.bytes_in,
                    "queued": {q: len(m) for q, m in self.queues.items()},
                    "stub_cpu_seconds": usage.ru_utime + usage.ru_stime}

    # --- DynamoDB ---

    def key_names(self, table: str) -> list[str]:
        if table not in self.tables:
            raise KeyError(table)
        return self.tables[table]["keys"]

    def key_of(self, table: str, item: dict) -> tuple:
        return tuple(json.dumps(item[k], sort_keys=True) for k in self.key_names(table))

    def put(self, table: str, item: dict, operation: str) -> dict | None:
        self.items_written[f"{table} {operation}"] += 1
        key = self.key_of(table, item)
        old = self.items[table].get(key)
        if table not in self.sinks:
            self.items[table][key] = item
        return old


STORE = Store()


# --- the services ---------------------------------------------------------------------------------------

class Failure(Exception):
    def __init__(self, status: int, code: str, message: str = ""):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def dynamodb(operation: str, p: dict) -> dict:
    s = STORE
    with s.lock:
        if operation == "DescribeTable":
            spec = s.tables.get(p["TableName"])
            if spec is None:
                raise Failure(400, "ResourceNotFoundException", "no such table")

            def schema(keys):
                return [{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"))]
            table = {"TableName": p["TableName"], "KeySchema": schema(spec["keys"]), "TableStatus": "ACTIVE",
                     "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in spec["keys"]],
                     "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}, "ItemCount": 0,
                     "TableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{p['TableName']}"}
            if spec.get("indexes"):
                projections = spec.get("projections", {})  # index -> ALL (the default) or KEYS_ONLY
                table["GlobalSecondaryIndexes"] = [
                    {"IndexName": n, "KeySchema": schema(keys), "IndexStatus": "ACTIVE",
                     "Projection": {"ProjectionType": projections.get(n, "ALL")}} for n, keys in spec["indexes"].items()]
            return {"Table": table}
        if operation == "PutItem":
            old = s.put(p["TableName"], p["Item"], operation)
            return {"Attributes": old} if p.get("ReturnValues") == "ALL_OLD" and old else {}
        if operation == "GetItem":
            item = s.items[p["TableName"]].get(s.key_of(p["TableName"], p["Key"]))
            return {"Item": item} if item is not None else {}
        if operation == "DeleteItem":
            s.items_written[f"{p['TableName']} DeleteItem"] += 1
            old = s.items[p["TableName"]].pop(s.key_of(p["TableName"], p["Key"]), None)
            return {"Attributes": old} if p.get("ReturnValues") == "ALL_OLD" and old else {}
        if operation == "UpdateItem":
            table = p["TableName"]
            key = s.key_of(table, p["Key"])
            old = s.items[table].get(key)
            item = dict(old) if old else dict(p["Key"])
            touched = apply_update(item, p.get("UpdateExpression", ""), p.get("ExpressionAttributeNames", {}),
                                   p.get("ExpressionAttributeValues", {}))
            s.items_written[f"{table} UpdateItem"] += 1
            if table not in s.sinks:
                s.items[table][key] = item
            wanted = p.get("ReturnValues", "NONE")
            if wanted == "ALL_NEW":
                return {"Attributes": item}
            if wanted == "ALL_OLD":
                return {"Attributes": old} if old else {}
            if wanted == "UPDATED_NEW":
                return {"Attributes": {k: item[k] for k in touched if k in item}}
            return {}
        if operation == "BatchWriteItem":
            for table, requests in p["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        s.put(table, request["PutRequest"]["Item"], operation)
                    else:
                        s.items_written[f"{table} BatchWriteItem(delete)"] += 1
                        s.items[table].pop(s.key_of(table, request["DeleteRequest"]["Key"]), None)
            return {"UnprocessedItems": {}}
        if operation == "BatchGetItem":
            responses = {}
            for table, request in p["RequestItems"].items():
                responses[table] = [item for k in request["Keys"]
                                    if (item := s.items[table].get(s.key_of(table, k))) is not None]
            return {"Responses": responses, "UnprocessedKeys": {}}
        if operation in ("Query", "Scan"):
            return _query(s, operation, p)
        if operation == "BatchExecuteStatement":  # INSERTs only (what the app sends): put unless the key is taken
            responses = []
            for entry in p["Statements"]:
                table, item = partiql_insert(entry["Statement"], entry.get("Parameters", []))
                if table not in s.sinks and s.key_of(table, item) in s.items[table]:
                    responses.append({"TableName": table, "Error": {"Code": "DuplicateItem",
                                                                    "Message": "Duplicate primary key exists in table"}})
                else:
                    s.put(table, item, operation)
                    responses.append({"TableName": table})
            return {"Responses": responses}
        if operation == "TransactWriteItems":
            for entry in p["TransactItems"]:
                (kind, op), = entry.items()
                if kind == "Put":
                    dynamodb("PutItem", op)
                elif kind == "Update":
                    dynamodb("UpdateItem", op)
                elif kind == "Delete":
                    dynamodb("DeleteItem", op)
            return {}
    raise Failure(400, "UnknownOperationException", f"the stub does not answer DynamoDB {operation}")


def _query(s: Store, operation: str, p: dict) -> dict:
    table = p["TableName"]
    spec = s.tables[table]
    keys = spec["indexes"][p["IndexName"]] if p.get("IndexName") else spec["keys"]
    items = list(s.items[table].values())
    if operation == "Query":
        test = key_condition(p["KeyConditionExpression"], p.get("ExpressionAttributeNames", {}),
                             p.get("ExpressionAttributeValues", {}))
        items = [i for i in items if test(i)]
        if len(keys) > 1:
            items.sort(key=lambda i: compare_key(i[keys[1]]), reverse=p.get("ScanIndexForward") is False)
    else:
        items = [i for i in items if all(k in i for k in keys)]
    start = p.get("ExclusiveStartKey")
    if start:
        wanted = s.key_of(table, start)
        positions = [n for n, i in enumerate(items) if s.key_of(table, i) == wanted]
        items = items[positions[0] + 1:] if positions else items
    limit = p.get("Limit")
    page = items[:limit] if limit else items
    answer = {"Items": page, "Count": len(page), "ScannedCount": len(page)}
    if limit and len(items) > limit:
        last = page[-1]
        answer["LastEvaluatedKey"] = {k: last[k] for k in dict.fromkeys(spec["keys"] + list(keys))}
    return answer


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def sqs(operation: str, p: dict, host: str) -> dict:
    s = STORE
    with s.lock:
        if operation == "GetQueueUrl":
            return {"QueueUrl": f"http://{host}/{ACCOUNT}/{p['QueueName']}"}
        if operation == "GetQueueAttributes":
            name = _queue_name(p["QueueUrl"])
            return {"Attributes": {"QueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}", "VisibilityTimeout": "30",
                                   "ApproximateNumberOfMessages": str(len(s.queues[name]))}}
        if operation == "SendMessage":
            name = _queue_name(p["QueueUrl"])
            message_id = str(uuid.uuid4())
            s.queues[name].append({"MessageId": message_id, "Body": p["MessageBody"],
                                   "MessageAttributes": p.get("MessageAttributes", {})})
            s.sqs_sent[name] += 1
            return {"MessageId": message_id, "MD5OfMessageBody": hashlib.md5(p["MessageBody"].encode()).hexdigest()}
        if operation == "SendMessageBatch":
            name = _queue_name(p["QueueUrl"])
            successful = []
            for entry in p["Entries"]:
                message_id = str(uuid.uuid4())
                s.queues[name].append({"MessageId": message_id, "Body": entry["MessageBody"],
                                       "MessageAttributes": entry.get("MessageAttributes", {})})
                successful.append({"Id": entry["Id"], "MessageId": message_id,
                                   "MD5OfMessageBody": hashlib.md5(entry["MessageBody"].encode()).hexdigest()})
            s.sqs_sent[name] += len(successful)
            return {"Successful": successful, "Failed": []}
        if operation == "ReceiveMessage":
            queue = s.queues[_queue_name(p["QueueUrl"])]
            messages = []
            for _ in range(min(int(p.get("MaxNumberOfMessages", 1)), len(queue))):
                m = queue.popleft()
                messages.append({**m, "ReceiptHandle": m["MessageId"],
                                 "MD5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),
                                 "Attributes": {"ApproximateReceiveCount": "1"}})
            return {"Messages": messages} if messages else {}
        if operation in ("DeleteMessage", "ChangeMessageVisibility"):
            return {}
        if operation in ("DeleteMessageBatch", "ChangeMessageVisibilityBatch"):
            return {"Successful": [{"Id": e["Id"]} for e in p["Entries"]], "Failed": []}
    raise Failure(400, "UnsupportedOperation", f"the stub does not answer SQS {operation}")


def _xml(action: str, result: str, namespace: str) -> bytes:
    return (f'<{action}Response xmlns="{namespace}"><{action}Result>{result}</{action}Result>'
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>").encode()


def _decode_aws_chunked(body: bytes) -> bytes:
    """`aws-chunked` content encoding: <hex size>[;ext]\\r\\n<data>\\r\\n ... 0\\r\\n<trailers>\\r\\n\\r\\n."""
    out, position = bytearray(), 0
    while True:
        end = body.index(b"\r\n", position)
        size = int(body[position:end].split(b";", 1)[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2:end + 2 + size]
        position = end + 2 + size + 2


# --- HTTP ----------------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall between them

    def log_message(self, *_):
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("x-amzn-RequestId", "stub")
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _json(self, status: int, payload: dict, content_type: str = "application/x-amz-json-1.0") -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": content_type})

    def do_GET(self):
        self._dispatch("GET")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_POST(self):
        self._dispatch("POST")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        body = self._body() if method in ("PUT", "POST") else b""
        url = urlparse(self.path)
        if url.path.startswith("/__stub/"):
            return self._control(url, body)
        if method == "GET" and url.path.endswith("/.well-known/jwks.json"):  # a user pool's signing keys
            return self._json(200, STORE.jwks, "application/json")
        with STORE.lock:
            STORE.bytes_in += len(body)
        target = self.headers.get("X-Amz-Target", "")
        try:
            if target.startswith("DynamoDB_"):
                operation = target.split(".", 1)[1]
                STORE.count(f"DynamoDB:{operation}")
                return self._json(200, dynamodb(operation, json.loads(body or b"{}")))
            if target.startswith("AmazonSQS."):
                operation = target.split(".", 1)[1]
                STORE.count(f"SQS:{operation}")
                return self._json(200, sqs(operation, json.loads(body or b"{}"), self.headers.get("Host")))
            if method == "POST" and self.headers.get("Content-Type", "").startswith("application/x-www-form"):
                return self._query_protocol(body)
            return self._s3(method, url, body)
        except Exception as error:  # a stub bug: say so (botocore would otherwise see a closed connection)
            if not isinstance(error, Failure):
                import traceback
                traceback.print_exc()
                error = Failure(500, "InternalFailure", f"stub: {type(error).__name__}: {error}")
            failure = error
            if target:
                return self._json(failure.status, {"__type": failure.code, "message": failure.message})
            xml = f"<Error><Code>{failure.code}</Code><Message>{failure.message}</Message></Error>".encode()
            return self._send(failure.status, xml, {"Content-Type": "application/xml"}, head=method == "HEAD")

    def _query_protocol(self, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        action = form.get("Action", "")
        if action == "Publish":
            STORE.count("SNS:Publish")
            with STORE.lock:
                STORE.sns_published[form.get("TopicArn", "?").rsplit(":", 1)[-1]] += 1
            xml = _xml("Publish", f"<MessageId>{uuid.uuid4()}</MessageId>", "http://sns.amazonaws.com/doc/2010-03-31/")
        elif action == "GetCallerIdentity":
            STORE.count("STS:GetCallerIdentity")
            xml = _xml("GetCallerIdentity", f"<Arn>arn:aws:iam::{ACCOUNT}:user/stub</Arn><UserId>stub</UserId>"
                       f"<Account>{ACCOUNT}</Account>", "https://sts.amazonaws.com/doc/2011-06-15/")
        else:
            raise Failure(400, "InvalidAction", f"the stub does not answer {action}")
        self._send(200, xml, {"Content-Type": "text/xml"})

    def _s3(self, method: str, url, body: bytes) -> None:
        bucket, _, key = unquote(url.path.lstrip("/")).partition("/")
        s = STORE
        if method == "PUT" and key:
            s.count("S3:PutObject")
            if "aws-chunked" in self.headers.get("Content-Encoding", ""):
                body = _decode_aws_chunked(body)
            etag = hashlib.md5(body).hexdigest()
            metadata = {k[len("x-amz-meta-"):]: v for k, v in self.headers.items() if k.lower().startswith("x-amz-meta-")}
            with s.lock:
                s.objects[(bucket, key)] = {"body": body, "etag": etag, "metadata": metadata, "time": time.time(),
                                            "type": self.headers.get("Content-Type", "binary/octet-stream")}
                s.s3_puts[bucket] += 1
            return self._send(200, b"", {"ETag": f'"{etag}"'})
        if method in ("GET", "HEAD") and key:
            s.count("S3:GetObject" if method == "GET" else "S3:HeadObject")
            with s.lock:
                obj = s.objects.get((bucket, key))
            if obj is None:
                raise Failure(404, "NoSuchKey", "no such key")
            wanted = self.headers.get("If-Match")
            if wanted and wanted.strip('"') != obj["etag"]:
                raise Failure(412, "PreconditionFailed", "etag")
            data, status = obj["body"], 200
            headers = {"ETag": f'"{obj["etag"]}"', "Content-Type": obj["type"],
                       "Last-Modified": formatdate(obj["time"], usegmt=True), "Accept-Ranges": "bytes"}
            headers.update({f"x-amz-meta-{k}": v for k, v in obj["metadata"].items()})
            ranged = self.headers.get("Range")
            if ranged and method == "GET":
                first, _, last = ranged.split("=", 1)[1].partition("-")
                start = int(first)
                if start >= len(data):
                    raise Failure(416, "InvalidRange", "range")
                end = min(len(data) - 1, int(last)) if last.strip() else len(data) - 1  # bytes=a-b is inclusive
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                data, status = data[start:end + 1], 206
            headers["Content-Length"] = str(len(data))
            return self._send(status, data, headers, head=method == "HEAD")
        if method == "DELETE" and key:
            s.count("S3:DeleteObject")
            with s.lock:
                s.objects.pop((bucket, key), None)
            return self._send(204)
        raise Failure(400, "NotImplemented", f"the stub does not answer S3 {method} {url.path}")

    def _control(self, url, body: bytes) -> None:
        s = STORE
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/__stub/stats":
            return self._json(200, s.stats(), "application/json")
        if url.path == "/__stub/reset":
            s.reset_counts()
            if query.get("data"):
                s.reset_data()
            return self._json(200, {}, "application/json")
        if url.path == "/__stub/tables":
            config = json.loads(body)
            with s.lock:
                s.tables.update(config.get("tables", {}))
                s.sinks = set(config.get("sinks", []))
            return self._json(200, {}, "application/json")
        if url.path == "/__stub/jwks":
            s.jwks = json.loads(body)
            return self._json(200, {}, "application/json")
        if url.path == "/__stub/queue":
            with s.lock:
                queue = s.queues[query["name"]]
                count = min(int(query.get("max", len(queue))), len(queue))
                messages = [queue.popleft() for _ in range(count)]
            return self._json(200, {"Messages": messages}, "application/json")
        self._send(404)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
