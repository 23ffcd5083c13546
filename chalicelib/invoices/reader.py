"""The invoices' read API: one invoice by number (and issuer, series), and pages by customer and issue date.

Apart from the ingester: it reads what the ingester wrote, and shares
nothing with it but the repository. Customer documents are personal data:
listings mask them always, one invoice shows the document whole only when the
route allows it.
"""
import re
import time
from datetime import date

from chalicelib.errors import Conflict, InvalidRequest, NotFound
from chalicelib.invoices.fields import MAX_CUSTOMER, mask_document, parse_issuer, parse_number, parse_series
from chalicelib.money import money_text
from chalicelib.ports import Invoices
from chalicelib.pagination import bounded_page, parse_page_size

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_CANDIDATES_SHOWN = 20  # an ambiguous number's 409 lists at most these


class InvoiceReader:
    """The read API: one invoice by number (and issuer, series), and pages filtered by customer and issue date.

    Customer documents are personal data: listings always mask them, and one invoice shows the full document
    only when the route says its caller may see it (`reveal_documents`, operators)."""
    LIST_PARAMS = {"customer", "from", "to", "limit", "next"}
    GET_PARAMS = {"issuer", "series"}

    def __init__(self, invoices: Invoices, clock=time.time):
        self.invoices = invoices
        self.clock = clock

    def get(self, number: str, params: dict[str, str] | None = None, reveal_documents: bool = False) -> dict:
        """The one invoice with this number; `params` may narrow it by `issuer` (CNPJ) and `series`.

        404 when none, 409 listing the candidates (issuer and series) when several issuers or series have it."""
        params = params or {}
        _refuse_unknown(params, self.GET_PARAMS)
        try:
            number = parse_number(number)  # the same canonical form the ingester stores
            if not number:
                raise ValueError("is empty")
        except ValueError as error:
            raise InvalidRequest("The invoice number is not valid.", [{"field": "number", "problem": str(error)}]) \
                from None
        issuer, series = _query_value(params, "issuer", parse_issuer), _query_value(params, "series", parse_series)
        found = self.invoices.find(number, int(self.clock()), issuer, series, limit=MAX_CANDIDATES_SHOWN + 1)
        if not found:
            which = " of this issuer" * (issuer is not None) + " in this series" * (series is not None)
            raise NotFound(f"No invoice with this number{which}.", [{"field": "number", "problem": "not found"}])
        if len(found) > 1:
            raise Conflict("More than one invoice has this number: choose one with ?issuer= and ?series=.",
                           ambiguity(found))
        return present(found[0], reveal_documents=reveal_documents)

    def list(self, params: dict[str, str]) -> dict:
        _refuse_unknown(params, self.LIST_PARAMS)
        issued_from, issued_to = parse_iso_date(params.get("from"), "from"), parse_iso_date(params.get("to"), "to")
        if issued_from and issued_to and issued_from > issued_to:
            raise InvalidRequest("The date range is empty.", [{"field": "from", "problem": "is after `to`"}])
        customer = params.get("customer")
        if customer is not None:
            customer = customer.strip()  # stored customers are trimmed
            if not customer or len(customer) > MAX_CUSTOMER:
                raise InvalidRequest("Say which customer.",
                                     [{"field": "customer", "problem": f"must be 1 to {MAX_CUSTOMER} characters"}])
        def fetch(count: int) -> tuple[list, str | None]:  # read again shorter when over the page's bytes
            items, cursor = self.invoices.page(count, params.get("next"), int(self.clock()), customer, issued_from,
                                               issued_to)
            return [present(i) for i in items], cursor
        return bounded_page(fetch, parse_page_size(params.get("limit")))


def ambiguity(found: list[dict]) -> list[dict]:
    """The 409's errors in the project's shape ({field, problem}): what is wrong, then one entry per candidate
    whose problem is the query that chooses it."""
    shown = found[:MAX_CANDIDATES_SHOWN]
    count = f"{len(shown)}" if len(found) == len(shown) else f"more than {len(shown)}"
    more = "" if len(found) == len(shown) else f" (the first {len(shown)} are listed; name the issuer)"
    return [{"field": "number", "problem": f"is the number of {count} invoices{more}"}] + [
        {"field": "issuer", "problem": f"candidate: ?issuer={i['issuer']}&series={i['series']}"} for i in shown]


def _refuse_unknown(params: dict[str, str], known: set[str]) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidRequest("Unknown query parameter.",
                             [{"field": name, "problem": "is not a known parameter "
                               f"(use {', '.join(sorted(known))})"} for name in unknown])


def _query_value(params: dict[str, str], name: str, parse) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        if not raw.strip():
            raise ValueError("is empty")
        return parse(raw)
    except ValueError as error:
        raise InvalidRequest(f"The {name} is not valid.", [{"field": name, "problem": str(error)}]) from None


def parse_iso_date(raw: str | None, field: str) -> str | None:
    if raw is None:
        return None
    try:
        if not ISO_DATE.fullmatch(raw):  # fromisoformat alone also takes week dates (2025-W01-1)
            raise ValueError
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise InvalidRequest("The date is not valid.",
                             [{"field": field, "problem": "must be a date as yyyy-mm-dd"}]) from None


def present(invoice: dict, reveal_documents: bool = False) -> dict:
    """An invoice as the API shows it; the customer's document masked unless `reveal_documents`."""
    source = invoice["source"]
    shown = {"number": invoice["number"], "issuer": invoice["issuer"], "series": invoice["series"],
             "customer": invoice["customer"], "amount": money_text(invoice["amount"]),
             "issue_date": invoice["issue_date"]}
    if invoice.get("customer_document") is not None:
        document = invoice["customer_document"]
        shown["customer_document"] = document if reveal_documents else mask_document(document)
    if invoice.get("description") is not None:
        shown["description"] = invoice["description"]
    shown["source"] = {"bucket": source["bucket"], "key": source["key"], "row": int(source["row"])}
    shown["ingested_at"] = invoice["ingested_at"]
    return shown


