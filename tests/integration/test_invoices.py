"""The invoice flow against moto: upload → streaming ingest → InvoicesTable → status, report and read API."""
import gzip
import json
from decimal import Decimal

import boto3
import pytest

from chalicelib import aws
from tests.conftest import PROJECT_DIR, SHARED_SAMPLES
from tests.events import s3_event

BUCKET, REPORTS = "notas-fiscais", "async-catalog-reports-dev"
SAMPLE = SHARED_SAMPLES / "notas_fiscais_2025.json"
EXAMPLE_CSV = (PROJECT_DIR / "examples" / "notas_fiscais.csv").read_bytes()


@pytest.fixture
def calls(aws_resources):
    recorded = []

    def record(params, model, **_):
        recorded.append((model.service_model.endpoint_prefix, model.name, dict(params)))
    for service in ("s3", "sqs", "dynamodb"):
        aws.client(service).meta.events.register("provide-client-params.*.*", record)
    return recorded


def upload(key: str, body: bytes | str) -> str:
    response = boto3.client("s3").put_object(Bucket=BUCKET, Key=key,
                                             Body=body.encode() if isinstance(body, str) else body)
    return response["ETag"].strip('"')


DEV_ISSUER = "11222333000181"  # the dev stage's INVOICE_DEFAULT_ISSUER: the issuer of rows that name none


def invoice(number: str, issuer: str = DEV_ISSUER, series: str = "1") -> dict | None:
    item = boto3.client("dynamodb").get_item(TableName="InvoicesTable", Key={
        "number": {"S": number}, "issuer_series": {"S": f"{issuer}#{series}"}}).get("Item")
    return item


def all_invoices() -> list[dict]:
    return boto3.client("dynamodb").scan(TableName="InvoicesTable")["Items"]


def status(client, key: str) -> dict:
    response = client.http.get(f"/invoice-uploads?key={key}")
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def csv_rows(n: int, start: int = 1, customer: str = "Ana Costa", amount: str = "10,00") -> str:
    lines = ["numero;cliente;valor;data_emissao"]
    lines += [f"NF-{i};{customer};{amount};{1 + i % 28:02d}/10/2025" for i in range(start, start + n)]
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.skipif(not SAMPLE.exists(), reason="../shared/samples is not beside this checkout")
def test_the_shared_sample_loads_exactly_ten_invoices_to_the_cent(runner, client):
    upload("2025/notas_fiscais_2025.json", SAMPLE.read_bytes())
    runner.drain()
    assert len(all_invoices()) == 10
    assert Decimal(invoice("NF-8")["amount"]["N"]) == Decimal("2878.10")  # exact, not 2878.0999…
    body = json.loads(client.http.get("/invoices/NF-1").body)
    assert body["amount"] == "2100.43" and body["customer"] == "Ana Costa" and body["issue_date"] == "2025-10-15"
    assert body["source"] == {"bucket": BUCKET, "key": "2025/notas_fiscais_2025.json", "row": 1}
    summary = status(client, "2025/notas_fiscais_2025.json")
    expected = sum(Decimal(str(i["valor"])) for i in json.loads(SAMPLE.read_text()))
    assert (summary["status"], summary["accepted"], summary["rejected"]) == ("completed", 10, 0)
    assert summary["total_amount"] == f"{expected:.2f}" == "28003.25"


def test_a_brazilian_excel_csv_keeps_good_rows_and_records_bad_ones_with_reasons(runner, client):
    upload("demo/notas_fiscais.csv", EXAMPLE_CSV)
    runner.drain()
    summary = status(client, "demo/notas_fiscais.csv")
    assert (summary["status"], summary["rows"], summary["accepted"], summary["rejected"]) == ("completed", 6, 4, 2)
    assert summary["total_amount"] == "1240489.86"
    problems = {(e["row"], e["field"]) for e in summary["errors"]}
    assert problems == {(5, "amount"), (6, "issue_date"), (6, "customer_document")}
    assert json.loads(client.http.get("/invoices/NF-1002").body)["customer"] == "João Silva"
    stored = json.loads(client.http.get("/invoices/NF-1006").body)
    assert stored["customer_document"] == "12ABC34501DE35" and stored["amount"] == "3721.64"
    report = json.loads(boto3.client("s3").get_object(Bucket=REPORTS, Key=summary["report"]["key"])["Body"].read())
    assert summary["report"]["key"].startswith("invoice-uploads/demo/notas_fiscais.csv@")
    assert {k: report[k] for k in ("status", "accepted", "rejected", "total_amount", "errors")} == \
        {k: summary[k] for k in ("status", "accepted", "rejected", "total_amount", "errors")}


def test_a_report_is_written_once_per_upload(runner, calls):
    upload("once.csv", csv_rows(30))
    runner.drain()
    puts = [p for s, op, p in calls if op == "PutObject" and p["Bucket"] == REPORTS]
    assert len(puts) == 1


def test_reuploading_a_changed_file_updates_invoices_instead_of_duplicating(runner, client):
    upload("monthly.csv", csv_rows(20, amount="10,00"))
    runner.drain()
    upload("monthly.csv", csv_rows(20, amount="11,50"))
    runner.drain()
    items = all_invoices()
    assert len(items) == 20 and {Decimal(i["amount"]["N"]) for i in items} == {Decimal("11.50")}
    assert status(client, "monthly.csv")["accepted"] == 20


def test_a_duplicated_s3_event_does_nothing(client, aws_resources, calls):
    etag = upload("dup.csv", csv_rows(5))
    event = s3_event(BUCKET, "dup.csv", etag)
    def effects():  # writes of invoices or rejected rows, reports, continuations
        return [c for c in calls if c[1] in ("BatchWriteItem", "BatchExecuteStatement", "PutObject", "SendMessage")
                or c[1] == "PutItem" and c[2]["TableName"] == "InvoicesTable"]
    client.lambda_.invoke("ingest_invoice_upload", event)
    first = len(effects())
    client.lambda_.invoke("ingest_invoice_upload", event)
    assert first and len(effects()) == first
    assert status(client, "dup.csv")["accepted"] == 5 and len(all_invoices()) == 5


def test_an_older_upload_arriving_late_never_overwrites_a_newer_one(client, aws_resources):
    older = upload("a/janeiro.csv", csv_rows(3, amount="1,00"))
    newer = upload("b/janeiro_corrigido.csv", csv_rows(3, amount="2,00"))
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "b/janeiro_corrigido.csv", newer,
                                                            event_time="2026-11-20T10:05:00.000Z"))
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "a/janeiro.csv", older,
                                                            event_time="2026-11-20T10:00:00.000Z"))
    assert {Decimal(i["amount"]["N"]) for i in all_invoices()} == {Decimal(2)}
    late = status(client, "a/janeiro.csv")
    assert (late["accepted"], late["superseded"]) == (3, 3)
    assert json.loads(client.http.get("/invoices/NF-1").body)["source"]["key"] == "b/janeiro_corrigido.csv"


def test_the_later_row_of_a_file_wins_for_an_invoice_listed_twice(runner):
    upload("twice.csv", "numero;cliente;valor;data_emissao\nNF-1;Ana;1,00;01/10/2025\nNF-1;Ana;2,00;01/10/2025\n")
    runner.drain()
    assert Decimal(invoice("NF-1")["amount"]["N"]) == 2


def test_a_broken_json_file_fails_with_its_reason_and_keeps_the_rows_before(runner, client):
    upload("broken.json", '[{"id": "NF-1", "cliente": "Ana", "valor": 1.5, "data_emissao": "2025-10-01"}, }{ garbage')
    runner.drain()
    summary = status(client, "broken.json")
    assert summary["status"] == "failed" and summary["failure_reason"]
    assert summary["accepted"] == 1 and invoice("NF-1") is not None
    assert "report" in summary


def test_a_binary_file_fails_once_and_is_not_retried(runner, client, calls):
    upload("photo.json", bytes(range(256)) * 4)
    runner.drain()
    assert status(client, "photo.json")["status"] == "failed"
    assert len([c for c in calls if c[1] == "GetObject"]) == 1


def test_gzip_jsonl_and_a_url_encoded_key_are_read(runner, client):
    rows = [{"number": f"G-{i}", "customer": "Gz Ltda", "amount": "5.25", "issue_date": "2025-11-01"} for i in range(7)]
    body = gzip.compress(("\n".join(json.dumps(r) for r in rows) + "\n").encode())
    upload("uploads/notas de novembro.jsonl.gz", body)
    runner.drain()
    summary = status(client, "uploads/notas de novembro.jsonl.gz")
    assert (summary["status"], summary["accepted"], summary["total_amount"]) == ("completed", 7, "36.75")


def test_a_file_read_across_many_invocations_counts_every_row_once(runner, client, monkeypatch):
    from chalicelib.invoices import service
    monkeypatch.setenv("INVOICE_INGEST_TIME_BUDGET_SECONDS", "0")  # hand over after every row
    service.reset()
    body = csv_rows(12) + "NF-X;;1,00;01/10/2025\r\n"
    upload("long.csv", body)
    runner.drain()
    summary = status(client, "long.csv")
    assert (summary["status"], summary["rows"], summary["accepted"], summary["rejected"]) == ("completed", 13, 12, 1)
    assert summary["errors"] == [{"row": 14, "field": "customer", "problem": summary["errors"][0]["problem"]}]
    assert len(all_invoices()) == 12


def test_other_files_are_ignored(runner, client):
    upload("notes.txt", "hello")
    runner.drain()
    assert client.http.get("/invoice-uploads?key=notes.txt").status_code == 404


def test_errors_are_capped_in_the_status_with_a_count_of_the_rest(runner, client):
    body = "numero;cliente;valor;data_emissao\r\n" + "".join(f"NF-{i};Ana;abc;01/10/2025\r\n" for i in range(150))
    upload("bad.csv", body)
    runner.drain()
    summary = status(client, "bad.csv")
    assert (summary["rejected"], len(summary["errors"]), summary["errors_not_shown"]) == (150, 100, 50)
    assert [e["row"] for e in summary["errors"][:3]] == [2, 3, 4]


def test_status_needs_a_key_and_knows_unknown_ones(client):
    assert client.http.get("/invoice-uploads").status_code == 400
    response = client.http.get("/invoice-uploads?key=never.csv")
    assert response.status_code == 404 and json.loads(response.body)["errors"][0]["field"] == "key"


# --- read API ------------------------------------------------------------------

@pytest.fixture
def many_invoices(runner):
    lines = ["numero;cliente;valor;data_emissao"]
    lines += [f"A-{i:02d};Ana Costa;{i},00;{i:02d}/10/2025" for i in range(1, 26)]
    lines += [f"B-{i:02d};Bruno;{i},00;{i:02d}/09/2025" for i in range(1, 6)]
    upload("many.csv", "\n".join(lines) + "\n")
    runner.drain()


def pages(client, query: str) -> list[list[str]]:
    seen, cursor = [], None
    while True:
        response = client.http.get(f"/invoices?{query}" + (f"&next={cursor}" if cursor else ""))
        assert response.status_code == 200, response.body
        body = json.loads(response.body)
        seen.append([i["number"] for i in body["items"]])
        cursor = body["next"]
        if not cursor:
            return [p for p in seen if p]


def test_listing_by_customer_and_date_range_pages_through_the_index(client, many_invoices, calls):
    found = pages(client, "customer=Ana%20Costa&from=2025-10-05&to=2025-10-14&limit=4")
    assert [n for page in found for n in page] == [f"A-{i:02d}" for i in range(5, 15)]
    assert all(len(page) <= 4 for page in found)
    assert not [c for c in calls if c[1] == "Scan"]
    assert {c[2].get("IndexName") for c in calls if c[1] == "Query" and c[2]["TableName"] == "InvoicesTable"} == \
        {"customer-index"}


def test_listing_without_a_customer_filters_dates_and_returns_everything_once(client, many_invoices):
    everything = [n for page in pages(client, "limit=7") for n in page]
    assert sorted(everything) == sorted([f"A-{i:02d}" for i in range(1, 26)] + [f"B-{i:02d}" for i in range(1, 6)])
    september = [n for page in pages(client, "from=2025-09-01&to=2025-09-30&limit=100") for n in page]
    assert sorted(september) == [f"B-{i:02d}" for i in range(1, 6)]


@pytest.mark.parametrize("query,field", [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"), ("from=2025-02-30", "from"),
    ("to=15/10/2025", "to"), ("from=2025-10-10&to=2025-10-01", "from"), ("next=bm90LWEta2V5", "next"),
    ("customer=", "customer"), ("cliente=Ana", "cliente"),
])
def test_bad_list_parameters_are_400s_that_name_the_parameter(client, query, field):
    response = client.http.get(f"/invoices?{query}")
    assert response.status_code == 400, (query, response.body)
    assert json.loads(response.body)["errors"][0]["field"] == field


def test_an_unknown_invoice_is_a_json_404(client):
    response = client.http.get("/invoices/NF-404")
    assert response.status_code == 404 and json.loads(response.body)["Code"] == "NotFound"


def test_an_s3_test_event_is_acknowledged_and_changes_nothing(app, aws_resources, calls):
    import app as app_module
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-20T10:00:00.000Z",
                  "Bucket": BUCKET, "RequestId": "x", "HostId": "y"}
    for handler in (app_module.ingest_invoice_upload, app_module.split_log_upload):  # what Lambda calls
        assert handler(test_event, None) is None
    assert calls == []


def test_a_row_with_a_lone_surrogate_is_rejected_and_the_file_goes_on(runner, client):
    upload("surrogate.jsonl", '{"number": "NF-\\ud800", "customer": "Ana", "amount": 1, "issue_date": "2025-10-01"}\n'
                              '{"number": "NF-2", "customer": "Ana", "amount": 2, "issue_date": "2025-10-01"}\n')
    runner.drain()
    summary = status(client, "surrogate.jsonl")
    assert (summary["status"], summary["accepted"], summary["rejected"]) == ("completed", 1, 1)
    assert summary["errors"][0]["field"] == "number" and invoice("NF-2") is not None


def test_a_header_too_wide_to_checkpoint_fails_the_file_with_its_reason(runner, client):
    header = ";".join(["numero", "cliente", "valor", "data_emissao"] + [f"extra_{i}" for i in range(2000)])
    upload("wide.csv", header + "\nNF-1;Ana;1,00;01/10/2025\n")
    runner.drain()
    summary = status(client, "wide.csv")
    assert summary["status"] == "failed" and "columns" in summary["failure_reason"]


def test_uploading_earlier_bytes_again_is_a_new_upload_that_wins(client, aws_resources):
    a = csv_rows(2, amount="1,00")
    first = upload("aba.csv", a)
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "aba.csv", first, "2026-11-20T10:00:00.000Z",
                                                            sequencer="0A"))
    second = upload("aba.csv", csv_rows(2, amount="2,00"))
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "aba.csv", second, "2026-11-20T10:01:00.000Z",
                                                            sequencer="0B"))
    third = upload("aba.csv", a)
    assert third == first
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "aba.csv", third, "2026-11-20T10:02:00.000Z",
                                                            sequencer="0C"))
    assert {Decimal(i["amount"]["N"]) for i in all_invoices()} == {Decimal(1)}
    assert status(client, "aba.csv")["run_id"].endswith("~0C")


def test_the_status_shows_the_newest_upload_even_when_its_event_came_first(client, aws_resources):
    old = upload("late.csv", csv_rows(2, amount="1,00"))
    new = upload("late.csv", csv_rows(2, amount="2,00"))
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "late.csv", new, "2026-11-20T10:05:00.000Z"))
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "late.csv", old, "2026-11-20T10:00:00.000Z"))
    summary = status(client, "late.csv")
    assert summary["status"] == "completed" and summary["run_id"].startswith(f"late.csv@{new}")


def test_an_ingest_that_fails_midway_gives_up_its_lease_so_the_retry_finishes_it(client, aws_resources, monkeypatch):
    from chalicelib.invoices.repository import InvoiceRepository
    real = InvoiceRepository.put_newer
    failures = []

    def throttled_once(self, invoices):
        if not failures:
            failures.append(1)
            raise ConnectionError("DynamoDB is throttling")
        return real(self, invoices)
    monkeypatch.setattr(InvoiceRepository, "put_newer", throttled_once)
    etag = upload("retry.csv", csv_rows(5))
    event = s3_event(BUCKET, "retry.csv", etag)
    with pytest.raises(ConnectionError):
        client.lambda_.invoke("ingest_invoice_upload", event)
    client.lambda_.invoke("ingest_invoice_upload", event)  # Lambda's retry of the same event, a minute later
    summary = status(client, "retry.csv")
    assert (summary["status"], summary["accepted"]) == ("completed", 5) and len(all_invoices()) == 5


def test_invoice_numbers_are_compared_in_one_canonical_form(runner, client):
    upload("forms.csv", "numero;cliente;valor;data_emissao\nNF  1;Ana;1,00;01/10/2025\n\uff2e\uff26 1;Ana;2,00;01/10/2025\n")
    runner.drain()
    assert [i["number"]["S"] for i in all_invoices()] == ["NF 1"]
    from chalicelib.invoices.service import invoice_reader
    assert invoice_reader().get(" NF   1 ")["amount"] == "2.00"  # the path parameter, as API Gateway decodes it


@pytest.mark.parametrize("query,field", [
    ("limit=%C2%B2", "limit"), ("limit=" + "9" * 5000, "limit"), ("from=2025-W01-1", "from"), ("customer=" + "x" * 201, "customer"),
    ("customer=Ana&next=" + __import__("chalicelib.pagination", fromlist=["x"]).encode_cursor(
        {"number": {"S": "1"}, "customer": {"S": "Bruno"}, "issue_date": {"S": "2025-01-01"}}), "next"),
    ("next=" + __import__("chalicelib.pagination", fromlist=["x"]).encode_cursor({"number": {"N": "1"}}), "next"),
])
def test_hostile_list_parameters_are_400s(client, query, field):
    response = client.http.get(f"/invoices?{query}")
    assert response.status_code == 400, (query, response.body)
    assert json.loads(response.body)["errors"][0]["field"] == field


def test_an_upload_key_longer_than_s3_allows_is_a_400_on_both_status_routes(client):
    for route in ("/invoice-uploads", "/log-batches"):
        response = client.http.get(f"{route}?key={'k' * 1025}")
        assert response.status_code == 400 and json.loads(response.body)["errors"][0]["field"] == "key"


# --- identity: issuer + series + number ---------------------------------------------------------

SUPPLIER_A, SUPPLIER_B = "11444777000161", "12ABC34501DE35"  # valid CNPJs (the second alphanumeric, 2026)


def get(client, path: str) -> tuple[int, dict]:
    response = client.http.get(path)
    return response.status_code, json.loads(response.body)


def test_two_issuers_same_numbered_invoices_are_two_invoices_in_every_format(runner, client):
    upload("a.csv", "numero;cliente;valor;data_emissao;cnpj_emitente;serie\n"
                    "NF-1;Ana;1,00;01/10/2025;11.444.777/0001-61;001\n")
    upload("b.json", json.dumps({"notas": [{"number": "NF-1", "customer": "Bia", "amount": "2.00",
                                            "issue_date": "2025-10-01", "issuer_document": SUPPLIER_B}]}))
    upload("c.jsonl", json.dumps({"number": "NF-1", "customer": "Caio", "amount": 3, "issue_date": "2025-10-01",
                                  "CNPJ Emitente": SUPPLIER_A, "series": "2"}) + "\n")
    upload("d.csv", "numero;cliente;valor;data_emissao\nNF-1;Davi;4,00;01/10/2025\n")  # the stage's own
    runner.drain()
    stored = {(i["issuer"]["S"], i["series"]["S"]): Decimal(i["amount"]["N"]) for i in all_invoices()}
    assert stored == {(SUPPLIER_A, "1"): 1, (SUPPLIER_B, "1"): 2, (SUPPLIER_A, "2"): 3, (DEV_ISSUER, "1"): 4}
    assert {i["issuer_series"]["S"] for i in all_invoices()} == {f"{SUPPLIER_A}#1", f"{SUPPLIER_B}#1",
                                                                 f"{SUPPLIER_A}#2", f"{DEV_ISSUER}#1"}


def test_reuploads_and_newer_versions_hold_per_identity(client, aws_resources):
    header = "numero;cliente;valor;data_emissao;cnpj_emitente\n"
    first = upload("a.csv", header + f"NF-1;Ana;1,00;01/10/2025;{SUPPLIER_A}\n")
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "a.csv", first, "2026-11-20T10:00:00.000Z"))
    other = upload("b.csv", header + f"NF-1;Bia;5,00;01/10/2025;{SUPPLIER_B}\n")
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "b.csv", other, "2026-11-20T10:01:00.000Z"))
    # A's re-upload updates A's invoice only; B's stays as B wrote it.
    again = upload("a.csv", header + f"NF-1;Ana;7,00;01/10/2025;{SUPPLIER_A}\n")
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "a.csv", again, "2026-11-20T10:02:00.000Z",
                                                            sequencer="0B"))
    # An older upload of B's invoice arriving late is superseded, and does not touch A's.
    late = upload("b-old.csv", header + f"NF-1;Bia;9,00;01/10/2025;{SUPPLIER_B}\n")
    client.lambda_.invoke("ingest_invoice_upload", s3_event(BUCKET, "b-old.csv", late, "2026-11-20T09:00:00.000Z"))
    assert Decimal(invoice("NF-1", SUPPLIER_A)["amount"]["N"]) == 7
    assert Decimal(invoice("NF-1", SUPPLIER_B)["amount"]["N"]) == 5
    assert status(client, "b-old.csv")["superseded"] == 1 and len(all_invoices()) == 2


def test_a_number_one_issuer_has_is_found_without_saying_whose(runner, client):
    upload("one.csv", f"numero;cliente;valor;data_emissao;cnpj_emitente\nNF-7;Ana;1,00;01/10/2025;{SUPPLIER_A}\n")
    runner.drain()
    code, body = get(client, "/invoices/NF-7")
    assert code == 200 and (body["number"], body["issuer"], body["series"]) == ("NF-7", SUPPLIER_A, "1")
    assert get(client, f"/invoices/NF-7?issuer={SUPPLIER_B}")[0] == 404


@pytest.fixture
def shared_number(runner):
    upload("shared.csv", "numero;cliente;valor;data_emissao;cnpj_emitente;serie\n"
                         f"NF-1;Ana;1,00;01/10/2025;{SUPPLIER_A};1\n"
                         f"NF-1;Bia;2,00;01/10/2025;{SUPPLIER_B};1\n"
                         f"NF-1;Caio;3,00;01/10/2025;{SUPPLIER_B};2\n")
    runner.drain()


def test_an_ambiguous_number_is_a_409_listing_the_candidates(client, shared_number):
    code, body = get(client, "/invoices/NF-1")
    assert code == 409 and body["Code"] == "Conflict"
    assert body["errors"][0] == {"field": "number", "problem": "is the number of 3 invoices"}
    candidates = sorted(e["problem"] for e in body["errors"][1:])  # the project's error shape: {field, problem}
    assert candidates == [f"candidate: ?issuer={SUPPLIER_A}&series=1", f"candidate: ?issuer={SUPPLIER_B}&series=1",
                          f"candidate: ?issuer={SUPPLIER_B}&series=2"]
    assert all(set(e) == {"field", "problem"} for e in body["errors"])
    for candidate in candidates:  # each one's query answers that invoice
        assert get(client, "/invoices/NF-1" + candidate.removeprefix("candidate: "))[0] == 200
    code, body = get(client, f"/invoices/NF-1?issuer={SUPPLIER_B}")  # B has two series of it
    assert code == 409 and len(body["errors"]) == 3


def test_a_409_lists_at_most_20_candidates_and_says_there_are_more():
    from chalicelib.invoices.service import ambiguity
    found = [{"issuer": f"{n:014d}", "series": "1"} for n in range(21)]
    errors = ambiguity(found)
    assert len(errors) == 21 and errors[0]["problem"].startswith("is the number of more than 20 invoices")


@pytest.mark.parametrize("query, customer", [
    (f"issuer={SUPPLIER_A}", "Ana"), ("issuer=11.444.777/0001-61", "Ana"),
    (f"issuer={SUPPLIER_B}&series=2", "Caio"), (f"issuer={SUPPLIER_B.lower()}&series=002", "Caio"),
    ("series=2", "Caio"),
])
def test_issuer_and_series_choose_among_them(client, shared_number, query, customer):
    code, body = get(client, f"/invoices/NF-1?{query}")
    assert code == 200 and body["customer"] == customer, body


@pytest.mark.parametrize("query, field", [
    ("issuer=11444777000162", "issuer"), ("issuer=52998224725", "issuer"), ("issuer=", "issuer"),
    ("series=1-A", "series"), ("series=123456", "series"), ("series=%20", "series"), ("serie=1", "serie"),
])
def test_bad_issuer_or_series_values_are_400s_naming_the_field(client, shared_number, query, field):
    code, body = get(client, f"/invoices/NF-1?{query}")
    assert code == 400 and [e["field"] for e in body["errors"]] == [field], body


# --- personal data: masked in lists, never in what the upload writes ------------------------------

CPF, CNPJ = "52998224725", "45299718000169"  # a customer's CPF and a customer company's CNPJ
DOCUMENT_FORMS = (CPF, "529.982.247-25", CNPJ, "45.299.718/0001-69", "12345678909", "123.456.789-09")


@pytest.fixture
def app_log():
    """What the app's logger writes (as Lambda keeps it), at every level, while the test runs."""
    import io
    import logging

    from chalicelib.logs import logger
    lines, level = io.StringIO(), logger.log_level
    previous = logger.registered_handler.setStream(lines)
    logger.setLevel(logging.DEBUG)
    yield lines
    logger.setLevel(level)
    logger.registered_handler.setStream(previous)


def test_lists_mask_customer_documents_and_an_operator_sees_one_invoice_in_full(runner, client):
    upload("docs.csv", "numero;cliente;valor;data_emissao;cpf_cnpj;cpf;cnpj\n"
                       "NF-1;Ana;1,00;01/10/2025;;529.982.247-25;\n"
                       "NF-2;Empresa;2,00;02/10/2025;;;45.299.718/0001-69\n")
    runner.drain()
    for query in ("", "?customer=Ana", "?customer=Empresa&from=2025-10-01"):
        code, body = get(client, f"/invoices{query}")
        assert code == 200 and body["items"]
        shown = {i["number"]: i["customer_document"] for i in body["items"]}
        assert set(shown.values()) <= {"***.982.247-**", "**.299.718/****-**"}, shown
        assert not [form for form in DOCUMENT_FORMS if form in json.dumps(body)]
    assert get(client, "/invoices/NF-1")[1]["customer_document"] == CPF  # the test client calls as an operator


def test_one_invoice_is_masked_for_a_caller_who_may_not_see_documents(runner, aws_resources):
    from chalicelib.invoices.service import invoice_reader
    upload("one-doc.csv", "numero;cliente;valor;data_emissao;cpf\nNF-1;Ana;1,00;01/10/2025;529.982.247-25\n")
    runner.drain()
    assert invoice_reader().get("NF-1")["customer_document"] == "***.982.247-**"
    assert invoice_reader().get("NF-1", reveal_documents=True)["customer_document"] == CPF


def test_no_full_document_in_the_upload_report_status_rejections_or_logs(runner, client, capsys, app_log):
    rows = [
        "NF-1;Ana;1,00;01/10/2025;529.982.247-25;",  # accepted
        "NF-2;Ana;x;01/10/2025;529.982.247-25;",  # rejected for its amount, with a valid document
        "NF-3;Ana;1,00;01/10/2025;529.982.247-26;",  # the document's check digits are wrong
        "NF-4;Ana;1,00;01/10/2025;123.456.789-09;45.299.718/0001-68",  # a bad issuer CNPJ
        "NF-5;529.982.247-25;1,00;2025-02-30;45299718000169;",  # documents in other fields, a bad date
        "529.982.247-25;Ana;1.234;01/10/2025;;",  # a CPF as the number, an ambiguous amount
    ]
    upload("pii.csv", "numero;cliente;valor;data_emissao;cpf;cnpj_emitente\n" + "\n".join(rows) + "\n")
    runner.drain()
    summary = status(client, "pii.csv")
    assert (summary["accepted"], summary["rejected"]) == (1, 5)
    report = boto3.client("s3").get_object(Bucket=REPORTS, Key=summary["report"]["key"])["Body"].read().decode()
    rejected = json.dumps(boto3.client("dynamodb").scan(TableName="InvoiceUploadsTable")["Items"])
    logs = app_log.getvalue() + "".join(capsys.readouterr())  # log lines, and EMF metrics on stdout
    assert '"invoice upload done"' in logs and "InvoiceRowsRejected" in logs
    written = {"report": report, "status": json.dumps(summary, ensure_ascii=False), "rejected rows": rejected,
               "logs": logs, "report key": summary["report"]["key"]}
    leaks = {(where, form) for where, text in written.items()
             for form in DOCUMENT_FORMS + ("529.982.247-26", "52998224726", "45.299.718/0001-68", "45299718000168")
             if form in text}
    assert leaks == set()
    assert {(e["row"], e["field"]) for e in summary["errors"]} >= {(3, "amount"), (4, "customer_document"),
                                                                   (5, "issuer"), (6, "issue_date")}


# --- retention ----------------------------------------------------------------------------------

def test_an_invoice_is_kept_5_whole_years_after_its_issue_year_then_expires(runner, client):
    upload("kept.csv", "numero;cliente;valor;data_emissao\nNF-1;Ana;1,00;31/12/2025\nNF-2;Ana;1,00;01/01/2019\n")
    runner.drain()
    kept = invoice("NF-1")
    assert int(kept["expires_at"]["N"]) == 1924992000  # 2031-01-01T00:00:00Z: 5 years after the end of 2025
    summary = status(client, "kept.csv")
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert summary["errors"][0]["field"] == "issue_date" and "retention" in summary["errors"][0]["problem"]
    assert invoice("NF-2") is None


def test_an_expired_invoice_not_yet_deleted_by_ttl_is_not_shown(runner, client):
    upload("old.csv", "numero;cliente;valor;data_emissao\nNF-1;Ana;1,00;01/10/2025\nNF-2;Ana;1,00;02/10/2025\n")
    runner.drain()
    boto3.client("dynamodb").update_item(  # as if its retention ended yesterday: DynamoDB deletes it within days
        TableName="InvoicesTable", Key={"number": {"S": "NF-1"}, "issuer_series": {"S": f"{DEV_ISSUER}#1"}},
        UpdateExpression="SET expires_at = :past", ExpressionAttributeValues={":past": {"N": "1700000000"}})
    assert get(client, "/invoices/NF-1")[0] == 404
    assert get(client, f"/invoices/NF-1?issuer={DEV_ISSUER}&series=1")[0] == 404
    for query in ("", "?customer=Ana"):
        assert [i["number"] for i in get(client, f"/invoices{query}")[1]["items"]] == ["NF-2"]


def test_a_stage_without_a_default_issuer_rejects_rows_that_name_none(runner, client, monkeypatch):
    from chalicelib.invoices import service
    monkeypatch.setenv("INVOICE_DEFAULT_ISSUER", "")
    service.reset()
    upload("no-issuer.csv", "numero;cliente;valor;data_emissao;cnpj_emitente\n"
                            f"NF-1;Ana;1,00;01/10/2025;\nNF-2;Ana;1,00;01/10/2025;{SUPPLIER_A}\n")
    runner.drain()
    summary = status(client, "no-issuer.csv")
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert summary["errors"][0]["field"] == "issuer" and "INVOICE_DEFAULT_ISSUER" in summary["errors"][0]["problem"]


@pytest.mark.parametrize("env, message", [
    ({"INVOICE_RETENTION_YEARS": "4"}, "at least 5 years"),
    ({"INVOICE_DEFAULT_ISSUER": "11222333000182"}, "INVOICE_DEFAULT_ISSUER has invalid check digits"),
    ({"INVOICE_DEFAULT_ISSUER": "52998224725"}, "INVOICE_DEFAULT_ISSUER must be the issuer's CNPJ"),
])
def test_a_stage_setting_that_breaks_the_rules_stops_the_ingester(monkeypatch, env, message):
    from chalicelib.invoices.service import StagePolicy
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        StagePolicy.from_settings()
