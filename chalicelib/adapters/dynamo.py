"""Plain dicts to and from DynamoDB's typed items, the one UpdateItem expression builder, and BatchWriteItem
that finishes its work: the wire format (`{"N": "1"}`) is spelled here and in the repositories, nowhere else."""
import random
import re
from concurrent.futures import ThreadPoolExecutor
import time
from decimal import Decimal
from typing import Any, Callable

from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer

from chalicelib import aws

_boto3_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize
BATCH_WRITE_LIMIT = 25


def _number(value: int | Decimal) -> str:
    """A number as boto3's TypeSerializer writes it: DynamoDB's 38 digits, exactly, or it raises."""
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _serialize(value: Any) -> dict[str, Any]:
    """boto3's TypeSerializer.serialize, with the common types (text, numbers, maps, lists) spelled out: the
    invoice ingester types a dozen values per row, and boto3's type dispatch was a tenth of its CPU."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is Decimal or kind is int:
        return {"N": _number(value)}
    if kind is dict:
        return {"M": {key: _serialize(inner) for key, inner in value.items()}}
    if kind is list:
        return {"L": [_serialize(inner) for inner in value]}
    return _boto3_serialize(value)  # bool, None, bytes, sets, subclasses...: as boto3 does


def to_item(record: dict[str, Any]) -> dict[str, Any]:
    return {key: _serialize(value) for key, value in record.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserialize(value) for key, value in item.items()}


def read_page(operation: str, params: dict[str, Any], from_cursor: bool) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a Query or Scan (`operation`): its items as plain records, and the cursor after them.

    A start key that came from a client's cursor and that DynamoDB refuses (ValidationException) is the
    client's mistake, a 400 naming `next`, not a 500."""
    from chalicelib.pagination import bad_cursor, encode_cursor  # pagination knows cursors, not DynamoDB
    dynamodb = aws.client("dynamodb")
    try:
        response = getattr(dynamodb, operation)(**params)
    except dynamodb.exceptions.ClientError as error:
        if from_cursor and error.response["Error"]["Code"] == "ValidationException":
            raise bad_cursor() from None
        raise
    return [from_item(item) for item in response.get("Items", [])], encode_cursor(response.get("LastEvaluatedKey"))


def backoff(attempt: int, base: float = 0.05, cap: float = 2.0) -> float:
    """Full-jitter exponential backoff (the AWS Architecture Blog's recommendation)."""
    return random.uniform(0, min(cap, base * 2 ** attempt))


def batch_put(table: str, items: list[dict[str, Any]], max_attempts: int = 8,
              sleep: Callable[[float], None] = time.sleep, max_in_flight: int = 4) -> list[dict[str, Any]]:
    """Put typed items 25 at a time, up to `max_in_flight` calls at once, retrying UnprocessedItems;
    return those still unwritten. (A worker's 100 lines are four calls side by side, not one after another.)"""
    client = aws.client("dynamodb")

    def put(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
        requests = [{"PutRequest": {"Item": item}} for item in chunk]
        for attempt in range(max_attempts):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                break
            sleep(backoff(attempt))
        return [request["PutRequest"]["Item"] for request in requests]

    chunks = [items[start:start + BATCH_WRITE_LIMIT] for start in range(0, len(items), BATCH_WRITE_LIMIT)]
    if len(chunks) <= 1:
        return [item for chunk in chunks for item in put(chunk)]
    with ThreadPoolExecutor(min(max_in_flight, len(chunks)), thread_name_prefix="ddb-batch") as pool:
        return [item for left in pool.map(put, chunks) for item in left]


def conditional_put_all(table: str, items: list[dict[str, Any]], condition: str, names: dict[str, str],
                        values: Callable[[dict[str, Any]], dict[str, Any]], max_in_flight: int = 16) -> list[int]:
    """PutItem each typed item under `condition`, up to `max_in_flight` at once; the indexes whose condition failed.

    BatchWriteItem takes no conditions; a conditional PutItem costs the same
    write units, so where a write must be guarded this is the batch. Any other
    error (after botocore's retries) propagates.
    """
    client = aws.client("dynamodb")

    def put(index: int) -> int | None:
        try:
            client.put_item(TableName=table, Item=items[index], ConditionExpression=condition,
                            ExpressionAttributeNames=names, ExpressionAttributeValues=values(items[index]))
            return None
        except client.exceptions.ConditionalCheckFailedException:
            return index

    if len(items) <= 1:
        return [i for i in map(put, range(len(items))) if i is not None]
    with ThreadPoolExecutor(min(max_in_flight, len(items)), thread_name_prefix="ddb-put") as pool:
        return [i for i in pool.map(put, range(len(items))) if i is not None]


BATCH_STATEMENT_LIMIT = 25  # BatchExecuteStatement's statements per call
# Per-statement errors of BatchExecuteStatement that a later attempt may not meet (BatchStatementError.Code).
_RETRYABLE_STATEMENT_ERRORS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded",
                                         "InternalServerError", "TransactionConflict"})


def _quoted(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def insert_all(table: str, items: list[dict[str, Any]], max_in_flight: int = 16, max_attempts: int = 8,
               sleep: Callable[[float], None] = time.sleep) -> list[int]:
    """Insert each typed item unless an item with its key exists; the indexes whose key was taken.

    PartiQL's INSERT is DynamoDB's put-if-absent (DuplicateItem when the key
    exists, the item left as it was), and BatchExecuteStatement runs 25 of them
    per call, each on its own: a conditional write at BatchWriteItem's call
    count. An item whose key was taken is left to the caller (a conditional
    PutItem can then decide by its own condition). A statement that failed
    for a reason that may pass (throttled, an internal error) is sent again;
    if it had in fact been applied, it now meets its own item and is reported
    as taken, which the caller's conditional put resolves as it would any
    taken key. Any other per-statement error, or a failed call, raises.
    """
    client = aws.client("dynamodb")
    prefix = f'INSERT INTO "{table.replace(chr(34), chr(34) * 2)}" VALUE '
    statements: dict[tuple[str, ...], str] = {}  # one statement text per item shape

    def statement(index: int) -> dict[str, Any]:
        item = items[index]
        names = tuple(item)
        text = statements.get(names)
        if text is None:
            text = statements[names] = prefix + "{" + ", ".join(f"{_quoted(n)}: ?" for n in names) + "}"
        return {"Statement": text, "Parameters": list(item.values())}

    def insert(chunk: list[int]) -> list[int]:
        taken: list[int] = []
        for attempt in range(max_attempts):
            response = client.batch_execute_statement(Statements=[statement(i) for i in chunk])
            again = []
            for index, result in zip(chunk, response["Responses"]):
                code = (result.get("Error") or {}).get("Code")
                if code == "DuplicateItem":
                    taken.append(index)
                elif code in _RETRYABLE_STATEMENT_ERRORS:
                    again.append(index)
                elif code:
                    raise RuntimeError(f"INSERT into {table} refused: {code}: {result['Error'].get('Message')}")
            if not again:
                return taken
            chunk = again
            sleep(backoff(attempt))
        raise RuntimeError(f"{len(chunk)} INSERT(s) into {table} still failing after {max_attempts} attempts")

    chunks = [list(range(start, min(start + BATCH_STATEMENT_LIMIT, len(items))))
              for start in range(0, len(items), BATCH_STATEMENT_LIMIT)]
    if len(chunks) <= 1:
        return sorted(i for chunk in chunks for i in insert(chunk))
    with ThreadPoolExecutor(min(max_in_flight, len(chunks)), thread_name_prefix="ddb-insert") as pool:
        return sorted(i for taken in pool.map(insert, chunks) for i in taken)


_NAME = re.compile(r"#(\w+)")


class Update:
    """One UpdateItem: its ADD, SET and REMOVE clauses, the #names they use and their :values.

    Every attribute is written `#name` (status, processed, ttl and many more
    are reserved words); a clause written by hand has its names found in it,
    and `alias` names one whose attribute cannot be a placeholder (a counter
    named after a log format may hold a `-`). Values are plain Python,
    serialised as `to_item` does, so callers never spell DynamoDB's wire format.
    """

    def __init__(self) -> None:
        self.clauses: dict[str, list[str]] = {"ADD": [], "SET": [], "REMOVE": []}
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str, alias: str | None = None) -> str:
        placeholder = f"#{alias or attribute}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, placeholder: str, value: Any) -> str:
        self.values[f":{placeholder}"] = _serialize(value)
        return f":{placeholder}"

    def with_values(self, **values: Any) -> "Update":
        """Values for the clauses or the condition, by placeholder (None is left out, as `to_item` does)."""
        for placeholder, value in values.items():
            if value is not None:
                self.value(placeholder, value)
        return self

    def clause(self, action: str, text: str, **values: Any) -> "Update":
        """A clause written out (`#a = if_not_exists(#a, :b)`): its #names are the attributes of the same name."""
        self.clauses[action].append(text)
        self.names.update({f"#{n}": n for n in _NAME.findall(text)})
        return self.with_values(**values)

    def set(self, attribute: str, value: Any) -> "Update":
        return self.clause("SET", f"{self.name(attribute)} = {self.value(attribute, value)}")

    def append(self, attribute: str, values: list[Any]) -> "Update":
        name = self.name(attribute)
        return self.clause("SET", f"{name} = list_append({name}, {self.value(attribute, values)})")

    def add(self, attribute: str, value: Any, alias: str | None = None, placeholder: str | None = None) -> "Update":
        """`ADD #attribute :value`: a number added, or members put in a set (a Python set of numbers is an NS)."""
        self.clauses["ADD"].append(f"{self.name(attribute, alias)} {self.value(placeholder or alias or attribute, value)}")
        return self

    def remove(self, *attributes: str) -> "Update":
        self.clauses["REMOVE"] += [self.name(a) for a in attributes]
        return self

    def expression(self) -> str:
        return " ".join(f"{action} {', '.join(parts)}" for action, parts in self.clauses.items() if parts)

    def params(self, condition: str | None = None) -> dict[str, Any]:
        """UpdateItem's expression parameters; a condition's #names are found in it as a clause's are."""
        params: dict[str, Any] = {"UpdateExpression": self.expression()}
        if condition:
            self.names.update({f"#{n}": n for n in _NAME.findall(condition) if f"#{n}" not in self.names})
            params["ConditionExpression"] = condition
        if self.names:
            params["ExpressionAttributeNames"] = self.names
        if self.values:
            params["ExpressionAttributeValues"] = self.values
        return params


def update_item(table: str, key: dict[str, Any], update: Update, condition: str | None = None) -> dict[str, Any] | None:
    """UpdateItem on the item with this (plain) key: the item as it is after, or None when the condition fails."""
    client = aws.client("dynamodb")
    try:
        response = client.update_item(TableName=table, Key=to_item(key), ReturnValues="ALL_NEW",
                                      **update.params(condition))
    except client.exceptions.ConditionalCheckFailedException:
        return None
    return from_item(response["Attributes"])
