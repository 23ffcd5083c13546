"""DynamoDB for invoices: the invoices themselves (InvoicesTable) and the uploads that brought them (InvoiceUploadsTable).

InvoicesTable is keyed by what identifies a nota fiscal: its number (hash key)
and `issuer_series`, `<issuer CNPJ>#<series>` (range key). Two suppliers'
invoice 1 are two items, a re-upload of the same invoice updates its item,
and GET /invoices/{number} is one Query on the number's partition, whoever
issued it. Each item carries the `version` of the upload row it came from
(`<upload time>|<key>|<row>`, which sorts by time); a write only lands over
an older version, so an upload whose event arrives late never overwrites
what a newer upload wrote. `customer-index` (customer, issue_date) serves
the customer listing without a scan.

Each invoice has `expires_at` (epoch seconds), the TTL attribute: DynamoDB
deletes it some time after that, within days, so the reads here leave out an
invoice past it that is still stored.

InvoiceUploadsTable holds each upload's run (`RunRepository`: status, checkpoint,
lease, counts) and one `E#<row>` item per rejected row with its problems.
"""
from typing import Any

from chalicelib import aws
from chalicelib.adapters.dynamo import (batch_put, conditional_put_all, from_item, insert_all, read_page,
                                        to_item)
from chalicelib.pagination import bad_cursor, decode_cursor
from chalicelib.streaming.runs import RunRepository

CUSTOMER_INDEX = "customer-index"
RANGE_KEY = "issuer_series"
_UNEXPIRED = "(attribute_not_exists(#expires_at) OR #expires_at > :now)"


def issuer_series(issuer: str, series: str) -> str:
    """The range key: issuers and series hold only letters and digits, so `#` cannot be part of either."""
    return f"{issuer}#{series}"


class InvoiceRepository:
    # After a chunk whose invoices were mostly stored already (a corrected file uploaded again), this many
    # chunks of the same upload go straight to the conditional puts: each INSERT that meets a stored invoice
    # is a write unit spent for nothing. Then INSERTs are tried again, in case the file has moved on to new
    # invoices. Another upload starts with INSERTs.
    PUTS_AFTER_A_STORED_CHUNK = 20

    def __init__(self, table_name: str):
        self.table_name = table_name
        # (upload, chunks left that skip the INSERTs): a hint for speed and units only, never a guarantee
        self._puts_first: tuple[Any, int] = (None, 0)

    def put_newer(self, invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write each invoice unless a newer version of it is stored; return those that were not written.

        Two conditional writes, each enforced by DynamoDB, so the rule holds
        whichever writes an invoice: an INSERT (put if absent, 25 a call)
        stores the invoices new to the table; each one whose key was taken is
        then a PutItem on `version <= :version`, which lands over an older
        (or the same) version and not over a newer one.
        """
        items = [to_item(invoice) for invoice in invoices]
        upload = invoices[0].get("upload") if invoices else None
        hinted, left = self._puts_first
        if hinted == upload and left > 0:
            self._puts_first = (upload, left - 1)
            taken = list(range(len(items)))
        else:
            taken = insert_all(self.table_name, items)
            if len(taken) * 2 > len(items):
                self._puts_first = (upload, self.PUTS_AFTER_A_STORED_CHUNK)
        stale = conditional_put_all(
            self.table_name, [items[i] for i in taken], "attribute_not_exists(#number) OR #version <= :version",
            {"#number": "number", "#version": "version"}, lambda item: {":version": item["version"]})
        return [invoices[taken[i]] for i in stale]

    def find(self, number: str, now: int, issuer: str | None = None, series: str | None = None,
             limit: int = 21) -> list[dict[str, Any]]:
        """The unexpired invoices with this number (of this issuer, of this series), at most `limit`."""
        dynamodb = aws.client("dynamodb")
        if issuer is not None and series is not None:
            item = dynamodb.get_item(TableName=self.table_name, Key={
                "number": {"S": number}, RANGE_KEY: {"S": issuer_series(issuer, series)}}).get("Item")
            invoice = from_item(item) if item else None
            return [invoice] if invoice and not expired(invoice, now) else []
        names = {"#number": "number", "#expires_at": "expires_at"}
        values: dict[str, Any] = {":number": {"S": number}, ":now": {"N": str(now)}}
        keys, filters = ["#number = :number"], [_UNEXPIRED]
        if issuer is not None:
            names["#issuer_series"] = RANGE_KEY
            values[":issuer"] = {"S": issuer_series(issuer, "")}
            keys.append("begins_with(#issuer_series, :issuer)")
        if series is not None:
            names["#series"] = "series"
            values[":series"] = {"S": series}
            filters.append("#series = :series")
        params: dict[str, Any] = {"TableName": self.table_name, "KeyConditionExpression": " AND ".join(keys),
                                  "FilterExpression": " AND ".join(filters), "ExpressionAttributeNames": names,
                                  "ExpressionAttributeValues": values}
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            response = dynamodb.query(**params)
            found += [from_item(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found[:limit]

    def page(self, limit: int, cursor: str | None, now: int, customer: str | None = None,
             issued_from: str | None = None, issued_to: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of unexpired invoices: of one customer by issue date (index query), or of all (a scan)."""
        params: dict[str, Any] = {"TableName": self.table_name, "Limit": limit}
        names = {"#expires_at": "expires_at"}
        values: dict[str, Any] = {":now": {"N": str(now)}}
        dates = []
        if issued_from:
            values[":from"] = {"S": issued_from}
        if issued_to:
            values[":to"] = {"S": issued_to}
        if issued_from and issued_to:
            dates = ["#issue_date BETWEEN :from AND :to"]
        elif issued_from:
            dates = ["#issue_date >= :from"]
        elif issued_to:
            dates = ["#issue_date <= :to"]
        if dates:
            names["#issue_date"] = "issue_date"
        if customer is not None:
            names["#customer"] = "customer"
            values[":customer"] = {"S": customer}
            params.update(IndexName=CUSTOMER_INDEX,
                          KeyConditionExpression=" AND ".join(["#customer = :customer", *dates]),
                          FilterExpression=_UNEXPIRED)
            key_names = {"number", RANGE_KEY, "customer", "issue_date"}
        else:
            params["FilterExpression"] = " AND ".join([*dates, _UNEXPIRED])
            key_names = {"number", RANGE_KEY}
        params.update(ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        if cursor:
            start = decode_cursor(cursor, key_names, strings_only=True)
            if customer is not None and start["customer"] != {"S": customer}:
                raise bad_cursor()  # another listing's cursor: DynamoDB would refuse it with a ValidationException
            params["ExclusiveStartKey"] = start
        return read_page("query" if customer is not None else "scan", params, from_cursor=bool(cursor))


def expired(invoice: dict[str, Any], now: int) -> bool:
    """Past its retention, though DynamoDB's TTL may not have deleted it yet."""
    return invoice.get("expires_at") is not None and int(invoice["expires_at"]) <= now


class InvoiceRunRepository(RunRepository):
    """Invoice uploads: their runs (RunRepository) and their rejected rows."""

    def record_rejected(self, run_id: str, rejected: list[dict[str, Any]]) -> None:
        """One item per rejected row, keyed by row: a re-read after a crash rewrites the same items."""
        items = [to_item({"pk": run_id, "sk": f"E#{r['row']:012d}", "row": r["row"], "problems": r["problems"]})
                 for r in rejected]
        left = batch_put(self.table_name, items)
        if left:
            raise RuntimeError(f"{len(left)} rejected row(s) of {run_id} could not be recorded")

    def rejected_rows(self, run_id: str, max_problems: int) -> list[dict[str, Any]]:
        """The first rejected rows in file order, until `max_problems` problems are gathered."""
        dynamodb = aws.client("dynamodb")
        params = {"TableName": self.table_name, "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
                  "ExpressionAttributeValues": {":pk": {"S": run_id}, ":e": {"S": "E#"}}, "Limit": 100}
        rows: list[dict[str, Any]] = []
        gathered = 0
        while gathered < max_problems:
            response = dynamodb.query(**params)
            for item in response.get("Items", []):
                row = from_item(item)
                rows.append(row)
                gathered += len(row["problems"])
                if gathered >= max_problems:
                    break
            if "LastEvaluatedKey" not in response:
                break
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return rows


UploadRuns = InvoiceRunRepository  # the name benchmarks/invoice_pipeline.py patches (record_rejected) until it moves
