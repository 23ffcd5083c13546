"""The invoice ingester on in-memory fakes (tests/fakes.py): rows kept or rejected, counted once, one report."""
import json

import pytest

from chalicelib.invoices.ingester import InvoiceIngester, StagePolicy, upload_status
from tests.fakes import FakeInvoiceRuns, FakeInvoices, FakeQueue, FakeReports

CSV = ("numero;cliente;valor;data_emissao\n"
       "NF-1;Ana Costa;10,00;01/10/2025\n"
       "NF-2;;x;32/13/2025\n"
       "NF-3;Bia;5,50;02/10/2025\n")


class Stream:
    def __init__(self, text: str):
        self.data = text.encode()

    def __call__(self, bucket, key, etag, offset=0, lines_before=None, caps=None):
        return iter([self.data[offset:]])


@pytest.fixture
def parts():
    return FakeInvoiceRuns(), FakeInvoices(), FakeQueue("invoice-ingest-queue"), FakeReports("reports")


def ingester_of(parts, text: str, **kwargs) -> InvoiceIngester:
    runs, invoices, queue, reports = parts
    ingester = InvoiceIngester(runs, invoices, queue, reports, policy=StagePolicy("11222333000181"), **kwargs)
    ingester.open_object = Stream(text)
    return ingester


def upload(ingester: InvoiceIngester, key: str = "lote.csv") -> str:
    return ingester.on_upload("notas-fiscais", key, etag="e1", event_time="2026-11-20T10:00:00Z")


def test_valid_rows_are_kept_invalid_ones_rejected_by_field_and_the_report_says_so(parts):
    runs, invoices, _, reports = parts
    ingester = ingester_of(parts, CSV)
    assert upload(ingester) == "completed"
    assert upload(ingester) == "duplicate"
    assert sorted(number for number, _ in invoices.items) == ["NF-1", "NF-3"]
    status = upload_status(runs, "lote.csv", "reports")
    assert (status["rows"], status["accepted"], status["rejected"], status["total_amount"]) == (3, 2, 1, "15.50")
    assert {e["field"] for e in status["errors"]} >= {"customer", "amount"}
    report = json.loads(reports.texts[status["report"]["key"]])
    assert report["accepted"] == 2 and report["status"] == "completed"


def test_an_ingest_out_of_time_hands_over_and_counts_every_row_once(parts):
    runs = parts[0]
    ingester = ingester_of(parts, CSV, time_budget=0)
    assert upload(ingester) == "continued"
    ingester.time_budget = None
    [handover] = parts[2].bodies
    assert ingester.on_continuation(handover) == "completed"
    assert ingester.on_continuation(handover) == "stale"
    run = runs.latest("lote.csv")
    assert (run["rows"], run["accepted"], run["rejected"]) == (3, 2, 1)


def test_a_reader_given_up_on_ends_failed_once(parts):
    ingester = ingester_of(parts, CSV)
    assert ingester.give_up("notas-fiscais", "lote.csv", "e9", "gave up") == "created failed"
    assert ingester.give_up("notas-fiscais", "lote.csv", "e9", "gave up") == "already finished"
    assert upload_status(parts[0], "lote.csv", "reports")["status"] == "failed"
