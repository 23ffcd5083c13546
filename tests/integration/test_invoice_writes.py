"""How invoices are written (InvoiceRepository.put_newer) against moto: INSERTs for new invoices, 25 a call,
and a conditional PutItem for each invoice whose key is taken, so that whichever path writes an invoice, a
newer version is never overwritten and nothing is stored twice."""
from decimal import Decimal

import boto3
import pytest

from chalicelib import aws
from chalicelib.adapters import dynamo
from chalicelib.adapters.dynamo import insert_all, to_item
from chalicelib.invoices.repository import InvoiceRepository

TABLE = "InvoicesTable"


@pytest.fixture
def calls(aws_resources):
    recorded = []

    def record(params, model, **_):
        recorded.append(model.name)
    aws.client("dynamodb").meta.events.register("provide-client-params.dynamodb.*", record)
    return recorded


def invoice(number: str, version: str, amount: str = "10.00", **extra) -> dict:
    return {"number": number, "issuer_series": "11222333000181#1", "issuer": "11222333000181", "series": "1",
            "customer": "Ana Costa", "amount": Decimal(amount), "issue_date": "2025-10-01", "expires_at": 2000000000,
            "source": {"bucket": "b", "key": "k.csv", "row": 2}, "version": version, **extra}


def stored() -> dict[str, dict]:
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return {item["number"]["S"]: item for item in items}


def test_new_invoices_are_inserted_25_a_call_and_stored_exactly(calls):
    invoices = [invoice(f"NF-{i}", f"v1|{i:03d}", description=None if i % 2 else "Serviço 'mensal'")
                for i in range(60)]
    assert InvoiceRepository(TABLE).put_newer(invoices) == []
    assert calls.count("BatchExecuteStatement") == 3 and "PutItem" not in calls
    items = stored()
    assert sorted(items) == sorted(i["number"] for i in invoices)
    assert items["NF-2"] == to_item(invoices[2])  # every attribute as a PutItem would have stored it
    assert "description" not in items["NF-1"] and items["NF-2"]["description"] == {"S": "Serviço 'mensal'"}


def test_a_taken_key_goes_to_the_versioned_put_which_never_overwrites_a_newer_version(calls):
    repository = InvoiceRepository(TABLE)
    repository.put_newer([invoice("NF-1", "2026-11-20T10:05|b.csv|2", "2.00"),
                          invoice("NF-2", "2026-11-20T10:05|b.csv|3", "2.00")])
    calls.clear()
    older = [invoice("NF-1", "2026-11-20T10:00|a.csv|2", "1.00"), invoice("NF-3", "2026-11-20T10:00|a.csv|4")]
    stale = repository.put_newer(older)
    assert stale == [older[0]]  # NF-1 is newer in the table: left alone, and reported
    assert calls == ["BatchExecuteStatement", "PutItem"]
    items = stored()
    assert items["NF-1"]["amount"] == {"N": "2.00"} and "NF-3" in items
    newer = invoice("NF-2", "2026-11-20T10:09|c.csv|3", "3.00")
    assert repository.put_newer([newer]) == [] and stored()["NF-2"]["amount"] == {"N": "3.00"}


def test_writing_the_same_rows_again_changes_nothing_and_counts_nothing_as_superseded(aws_resources):
    repository = InvoiceRepository(TABLE)
    rows = [invoice(f"NF-{i}", f"v|{i:03d}") for i in range(30)]
    assert repository.put_newer(rows) == []
    before = stored()
    assert repository.put_newer(rows) == []  # a re-read after a crash: same versions, written again
    assert stored() == before


def test_after_a_chunk_of_stored_invoices_the_next_chunks_go_straight_to_the_puts(calls):
    repository = InvoiceRepository(TABLE)
    first = [invoice(f"NF-{i}", f"v1|{i:03d}", "1.00") for i in range(10)]
    repository.put_newer(first)
    calls.clear()
    again = [invoice(f"NF-{i}", f"v2|{i:03d}", "2.00", upload="fixed.csv@2") for i in range(10)]  # a corrected file
    assert repository.put_newer(again[:5]) == []
    assert calls.count("BatchExecuteStatement") == 1 and calls.count("PutItem") == 5
    calls.clear()
    assert repository.put_newer(again[5:] + [invoice("NF-new", "v2|999", "2.00", upload="fixed.csv@2")]) == []
    assert "BatchExecuteStatement" not in calls and calls.count("PutItem") == 6  # no INSERT spent on stored ones
    assert {item["amount"]["N"] for item in stored().values()} == {"2.00"} and "NF-new" in stored()
    calls.clear()  # another upload in the same container starts with INSERTs again
    assert repository.put_newer([invoice("NF-other", "v3|001", "2.00", upload="other.csv@1")]) == []
    assert calls == ["BatchExecuteStatement"]


def test_insert_all_reports_taken_keys_and_leaves_their_items_alone(aws_resources):
    items = [to_item(invoice(f"NF-{i}", "v1")) for i in range(3)]
    assert insert_all(TABLE, items) == []
    changed = [to_item(invoice("NF-1", "v2", "9.99")), to_item(invoice("NF-7", "v2"))]
    assert insert_all(TABLE, changed) == [0]
    assert stored()["NF-1"]["version"] == {"S": "v1"} and stored()["NF-7"]["version"] == {"S": "v2"}


class _Answers:
    """A DynamoDB client whose BatchExecuteStatement answers each statement from a script, per attempt."""

    def __init__(self, *attempts: list[str | None]):
        self.attempts = list(attempts)
        self.sent: list[int] = []

    def batch_execute_statement(self, Statements):
        codes = self.attempts.pop(0)
        assert len(codes) == len(Statements)
        self.sent.append(len(Statements))
        return {"Responses": [{"Error": {"Code": code, "Message": code}} if code else {} for code in codes]}


def test_a_statement_that_may_pass_later_is_sent_again_alone(monkeypatch):
    client = _Answers([None, "ThrottlingError", "DuplicateItem", "InternalServerError"], [None, "DuplicateItem"])
    monkeypatch.setattr(aws, "client", lambda service: client)
    items = [{"number": {"S": str(i)}} for i in range(4)]
    # The internal error's INSERT had in fact landed: its retry meets its own item and it is reported as taken,
    # for the caller's versioned put to settle, as it settles any taken key.
    assert insert_all("T", items, sleep=lambda _: None) == [2, 3]
    assert client.sent == [4, 2]


def test_a_statement_refused_for_good_raises_and_one_still_throttled_gives_up(monkeypatch):
    monkeypatch.setattr(aws, "client", lambda service: _Answers([None, "ValidationError"]))
    with pytest.raises(RuntimeError, match="ValidationError"):
        insert_all("T", [{"n": {"S": "1"}}, {"n": {"S": "2"}}], sleep=lambda _: None)
    monkeypatch.setattr(aws, "client", lambda service: _Answers(["ThrottlingError"], ["ThrottlingError"]))
    with pytest.raises(RuntimeError, match="after 2 attempts"):
        insert_all("T", [{"n": {"S": "1"}}], max_attempts=2, sleep=lambda _: None)


def test_attribute_and_table_names_are_quoted_in_the_statement(monkeypatch):
    sent = []

    class Client:
        def batch_execute_statement(self, Statements):
            sent.extend(Statements)
            return {"Responses": [{} for _ in Statements]}
    monkeypatch.setattr(aws, "client", lambda service: Client())
    insert_all('odd"table', [{"it's": {"S": "x"}, "n": {"N": "1"}}])
    assert sent == [{"Statement": """INSERT INTO "odd""table" VALUE {'it''s': ?, 'n': ?}""",
                     "Parameters": [{"S": "x"}, {"N": "1"}]}]
    assert dynamo.BATCH_STATEMENT_LIMIT == 25
