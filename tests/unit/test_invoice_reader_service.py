"""The invoice reader on an in-memory repository (tests/fakes.py): one invoice, ambiguity, listings, masking."""
from decimal import Decimal

import pytest

from chalicelib.errors import Conflict, InvalidRequest, NotFound
from chalicelib.invoices.reader import InvoiceReader
from tests.fakes import FakeInvoices

NOW = 1_800_000_000
ISSUER_A, ISSUER_B = "11222333000181", "11444777000161"


def invoice(number: str, issuer: str, customer: str = "Ana", issue_date: str = "2026-10-01",
            expires_at: int = NOW + 1000, document: str | None = "52998224725") -> dict:
    return {"number": number, "issuer_series": f"{issuer}#1", "issuer": issuer, "series": "1",
            "expires_at": expires_at, "customer": customer, "amount": Decimal("10.00"), "issue_date": issue_date,
            "customer_document": document, "description": None,
            "source": {"bucket": "notas-fiscais", "key": "a.csv", "row": Decimal(2)},
            "ingested_at": "2026-11-20T10:00:00.000Z", "version": "v"}


@pytest.fixture
def invoices():
    store = FakeInvoices()
    store.put_newer([invoice("1", ISSUER_A), invoice("1", ISSUER_B, customer="Bia"), invoice("2", ISSUER_A),
                     invoice("3", ISSUER_A, expires_at=NOW - 1)])
    return store


@pytest.fixture
def reader(invoices):
    return InvoiceReader(invoices, clock=lambda: NOW)


def test_one_invoice_shows_its_document_masked_unless_revealed(reader):
    shown = reader.get("2")
    assert shown["number"] == "2" and shown["amount"] == "10.00" and shown["source"]["row"] == 2
    assert shown["customer_document"] != "52998224725"
    assert reader.get("2", reveal_documents=True)["customer_document"] == "52998224725"


def test_a_number_two_issuers_share_is_a_conflict_naming_both_until_the_issuer_is_given(reader):
    with pytest.raises(Conflict) as conflict:
        reader.get("1")
    assert sum("candidate" in e["problem"] for e in conflict.value.errors) == 2
    assert reader.get("1", {"issuer": ISSUER_B})["customer"] == "Bia"


def test_an_expired_or_unknown_invoice_is_not_found_and_a_bad_query_is_refused(reader):
    for number in ("3", "404"):
        with pytest.raises(NotFound):
            reader.get(number)
    with pytest.raises(InvalidRequest):
        reader.get("1", {"colour": "red"})


def test_listing_by_customer_and_dates_leaves_out_the_expired(reader):
    assert [i["number"] for i in reader.list({"customer": "Ana"})["items"]] == ["1", "2"]
    assert reader.list({"from": "2026-11-01"})["items"] == []
    with pytest.raises(InvalidRequest):
        reader.list({"from": "2026-11-02", "to": "2026-11-01"})
