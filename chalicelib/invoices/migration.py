"""Copy invoices from a table keyed by number alone (before issue 19) into one keyed by number and issuer_series.

DynamoDB cannot change a table's key, so the new key needs a new table
(docs/invoices.md, "Migrating existing invoices"); this fills it from the old
one. Each old item gets the issuer given (the stage's own: before issuer
columns existed, every invoice was filed as if its stage had issued it),
series 1, `issuer_series` and `expires_at`; everything else is kept,
`version` included, so each copy is a conditional put like an upload's
write: an invoice an upload already wrote to the new table is newer and is
left alone, and running the copy again changes nothing. Invoices already past
their retention are not copied (they would only wait for the TTL). Not run by
the app: an operator runs it once per stage, with the stage's credentials.

    python -m chalicelib.invoices.migration --from async-catalog-prod-invoices \\
        --to async-catalog-prod-invoices-v2 --issuer 11.222.333/0001-81
"""
import argparse
import json
import time
from collections import Counter
from typing import Any

from chalicelib import aws
from chalicelib.adapters.dynamo import from_item
from chalicelib.invoices.fields import DEFAULT_SERIES, parse_issuer
from chalicelib.invoices.repository import InvoiceRepository, expired, issuer_series
from chalicelib.invoices.ingester import MIN_RETENTION_YEARS, StagePolicy


def migrated(invoice: dict[str, Any], policy: StagePolicy) -> dict[str, Any]:
    """An old item as the new table keeps it; an item that already names its issuer keeps it."""
    issuer = invoice.get("issuer") or policy.default_issuer
    if issuer is None:
        raise ValueError("the old invoices need an issuer: give the stage's own CNPJ")
    series = invoice.get("series") or DEFAULT_SERIES
    return {**invoice, "issuer": issuer, "series": series, "issuer_series": issuer_series(issuer, series),
            "expires_at": int(invoice.get("expires_at") or policy.expires_at(invoice["issue_date"])),
            "version": invoice.get("version") or ""}  # no version: older than any upload's


def migrate(source: str, target: str, policy: StagePolicy, now: float | None = None,
            page_size: int = 100) -> dict[str, int]:
    """Copy every item of `source` into `target`; counts of what happened to them."""
    if policy.default_issuer is None:
        raise ValueError("the old invoices need an issuer: give the stage's own CNPJ")
    now = time.time() if now is None else now
    dynamodb, invoices = aws.client("dynamodb"), InvoiceRepository(target)
    counts = Counter(read=0, copied=0, newer_in_target=0, expired=0)
    params: dict[str, Any] = {"TableName": source, "Limit": page_size}
    while True:
        page = dynamodb.scan(**params)
        records = [migrated(from_item(item), policy) for item in page.get("Items", [])]
        kept = [record for record in records if not expired(record, int(now))]
        stale = invoices.put_newer(kept) if kept else []
        counts.update(read=len(records), copied=len(kept) - len(stale), newer_in_target=len(stale),
                      expired=len(records) - len(kept))
        if "LastEvaluatedKey" not in page:
            return dict(counts)
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", required=True, help="the old table (keyed by number)")
    parser.add_argument("--to", dest="target", required=True, help="the new table (number + issuer_series)")
    parser.add_argument("--issuer", required=True, help="the CNPJ the old invoices were issued by (the stage's own)")
    parser.add_argument("--retention-years", type=int, default=MIN_RETENTION_YEARS,
                        help="the stage's INVOICE_RETENTION_YEARS")
    args = parser.parse_args(argv)
    try:
        policy = StagePolicy(parse_issuer(args.issuer), args.retention_years)
    except ValueError as error:
        parser.error(f"--issuer/--retention-years: {error}")
    print(json.dumps(migrate(args.source, args.target, policy)))


if __name__ == "__main__":
    main()
