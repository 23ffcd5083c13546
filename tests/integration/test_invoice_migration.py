"""Moving invoices keyed by number alone into the table keyed by number and issuer (chalicelib/invoices/migration.py)."""
from decimal import Decimal

import boto3
import pytest

from chalicelib.adapters.dynamo import to_item
from chalicelib.invoices.migration import main, migrate
from chalicelib.invoices.service import StagePolicy, invoice_reader

OWN = "11222333000181"
NOW = 1_800_000_000  # 2027-01-15: an invoice of 2021 or before is past its 5 years


def old_item(number: str, issue_date: str, version: str, amount: str = "1.00") -> dict:
    return to_item({"number": number, "customer": "Ana", "amount": Decimal(amount), "issue_date": issue_date,
                    "customer_document": "52998224725", "source": {"bucket": "notas-fiscais", "key": "old.csv",
                                                                   "row": 2},
                    "ingested_at": "2025-10-02T00:00:00.000Z", "upload": "old.csv@x", "version": version})


@pytest.fixture
def old_table(aws_resources):
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(TableName="OldInvoices", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "number", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "number", "AttributeType": "S"}])
    for n in range(1, 251):  # more than one page
        dynamodb.put_item(TableName="OldInvoices", Item=old_item(f"NF-{n}", "2025-10-01", "2025-10-01T00:00:00Z|a|1"))
    dynamodb.put_item(TableName="OldInvoices", Item=old_item("NF-OLD", "2020-05-01", "2025-10-01T00:00:00Z|a|2"))
    return "OldInvoices"


def test_old_invoices_become_the_stage_issuers_series_1_and_a_rerun_changes_nothing(old_table):
    dynamodb = boto3.client("dynamodb")
    # An upload after the deploy already wrote NF-1 anew: the copy must not overwrite it.
    newer = old_item("NF-1", "2025-10-01", "2026-11-20T00:00:00Z|new.csv|000000000002", amount="9.00")
    dynamodb.put_item(TableName="InvoicesTable", Item={**newer, "issuer": {"S": OWN}, "series": {"S": "1"},
                                                       "issuer_series": {"S": f"{OWN}#1"}})
    policy = StagePolicy(OWN, 5)
    assert migrate(old_table, "InvoicesTable", policy, now=NOW, page_size=100) == {
        "read": 251, "copied": 249, "newer_in_target": 1, "expired": 1}
    moved = invoice_reader().get("NF-2", reveal_documents=True)
    assert (moved["issuer"], moved["series"], moved["customer_document"], moved["amount"]) == \
        (OWN, "1", "52998224725", "1.00")
    item = dynamodb.get_item(TableName="InvoicesTable", Key={"number": {"S": "NF-2"},
                                                             "issuer_series": {"S": f"{OWN}#1"}})["Item"]
    assert item["expires_at"] == {"N": "1924992000"}  # 2031-01-01, as an upload would have set it
    assert invoice_reader().get("NF-1")["amount"] == "9.00"
    with pytest.raises(Exception, match="No invoice"):
        invoice_reader().get("NF-OLD")
    before = sorted(map(str, dynamodb.scan(TableName="InvoicesTable")["Items"]))
    # Again: the same versions are written over themselves (a conditional put lands on an equal version).
    assert migrate(old_table, "InvoicesTable", policy, now=NOW)["newer_in_target"] == 1
    assert sorted(map(str, dynamodb.scan(TableName="InvoicesTable")["Items"])) == before and len(before) == 250


def test_the_command_needs_a_valid_issuer(old_table, capsys):
    with pytest.raises(SystemExit):
        main(["--from", old_table, "--to", "InvoicesTable", "--issuer", "52998224725"])
    assert "must be the issuer's CNPJ" in capsys.readouterr().err
    main(["--from", old_table, "--to", "InvoicesTable", "--issuer", "11.222.333/0001-81"])
    assert '"copied": 250' in capsys.readouterr().out
