"""A customer's personal data erased on request (LGPD art. 18, VI), and an answer saying what was kept and why.

DELETE /customers/{customerId}/personal-data (operators only) removes what the
app keeps about a customer for no other purpose than serving them, and lists
what it must or may keep, each with its reason and retention. The customer id
is the one orders are filed under: the customer's Cognito `sub`.

Removed: the contact (`notify` e-mail or phone) of each of the customer's
orders that still holds one: on the order item (OrdersTable) until the
order is notified or failed, and, for orders placed before contacts moved
into the order, in OrderContactsTable (chalicelib/orders/contacts.py).

Retained, and answered as such:
- the orders themselves (items, totals, history), under the customer id: the
  record of each sale. Without the contact they hold nothing that names the
  customer, only the pseudonymous id the user pool gave them;
- invoices: fiscal records, kept at least INVOICE_RETENTION_YEARS (5) after
  their issue year and then expired. They name their customer by name and
  CPF/CNPJ, not by this id, so they are not looked up here;
- the customer's user in the pool (username, sub): the account itself; closing
  it is a separate act (Cognito's AdminDeleteUser), which this route does not
  do: the customer may still want to log in and see their orders;
- Idempotency-Key records: a SHA-256 of each request sent with a key (the
  contact included), which cannot be turned back into the contact and expires
  after IDEMPOTENCY_KEY_HOURS.

The erasure is idempotent: a second call removes nothing more and answers
zero. An order placed while it runs may keep its contact; erase again after.
docs/personal-data.md maps every piece of personal data the app holds.
"""
import hashlib
from typing import Any
from urllib.parse import unquote

from chalicelib.errors import InvalidRequest
from chalicelib.logs import logger
from chalicelib.orders.repository import OrderRepository
from chalicelib.orders.contacts import OrderContacts
from chalicelib.orders.service import MAX_CUSTOMER_ID

LGPD_LEGAL_OBLIGATION = "LGPD art. 16, I (compliance with a legal or regulatory obligation)"


def parse_customer_id(raw: Any) -> str:
    """The path's customer id as orders store it: 1 to MAX_CUSTOMER_ID printable characters.

    Percent-escapes are decoded (`c%2042` is `c 42`): Chalice and API Gateway's REST APIs pass a path parameter
    as the client sent it. Cognito subs, what customers are filed under, never contain `%`."""
    raw = unquote(raw) if isinstance(raw, str) else raw
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_CUSTOMER_ID \
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise InvalidRequest("The customer id is not valid.",
                             [{"field": "customerId",
                               "problem": f"must be 1 to {MAX_CUSTOMER_ID} printable characters (the customer's "
                                          "sub, as orders are filed under)"}])
    return raw.strip()  # orders store it trimmed (NewOrder strips whitespace)


class CustomerErasure:
    """Erases a customer's contacts and answers what it removed and what it keeps; built by chalicelib/bootstrap.py."""

    def __init__(self, contacts: OrderContacts, orders: OrderRepository, invoice_retention_years: int,
                 idempotency_key_hours: int):
        self.contacts, self.orders = contacts, orders
        self.invoice_retention_years, self.idempotency_key_hours = invoice_retention_years, idempotency_key_hours

    def erase(self, raw_customer_id: Any, erased_by: str) -> dict[str, Any]:
        """Erase the customer's contacts; what was removed, per store, and what is retained, with its reason."""
        customer_id = parse_customer_id(raw_customer_id)
        on_orders = self.orders.erase_contacts(customer_id)
        contacts = self.contacts.erase_customer(customer_id)  # orders placed before contacts moved into them
        orders = self.orders.count_for_customer(customer_id)
        return answer(customer_id, erased_by, contacts, orders, self.invoice_retention_years,
                      self.idempotency_key_hours, on_orders=on_orders)


def answer(customer_id: str, erased_by: str, contacts: int, orders: int, invoice_retention_years: int,
           idempotency_key_hours: int, on_orders: int = 0) -> dict[str, Any]:
    """The erasure's answer (and its audit line): what was removed, and what is kept with its reason."""
    # The audit trail names the operator and a digest of the customer id, not the id: the log outlives the data.
    logger.info("personal data erased", erased_by=erased_by, contacts_removed=on_orders + contacts,
                orders_retained=orders, customer_ref=hashlib.sha256(customer_id.encode()).hexdigest()[:16])
    return {
        "customerId": customer_id,
        "removed": [
            {"store": "OrdersTable", "data": "the contact (notify e-mail or phone) of each order not yet notified",
             "count": on_orders},
            {"store": "OrderContactsTable", "data": "the contact (notify e-mail or phone) of each order placed "
                                                    "before contacts moved into the order", "count": contacts},
        ],
        "retained": [
            {"store": "OrdersTable", "data": "the orders (items, totals, history) under the customer id",
             "count": orders,
             "reason": "the record of each sale; without their contacts they name no one but the pseudonymous "
                       f"customer id. {LGPD_LEGAL_OBLIGATION}"},
            {"store": "InvoicesTable", "data": "invoices naming the customer (name, CPF/CNPJ)",
             "reason": f"fiscal records, kept {invoice_retention_years} whole years after their issue "
                       f"year (INVOICE_RETENTION_YEARS) and then expired; {LGPD_LEGAL_OBLIGATION}. Not looked up: "
                       "invoices name their customer by name and document, not by this id"},
            {"store": "Cognito user pool", "data": "the customer's user (username, sub, groups)",
             "reason": "the customer's account, which still lets them log in and read their orders; closing it "
                       "is a separate request (AdminDeleteUser), not done here"},
            {"store": "IdempotencyKeysTable", "data": "a SHA-256 digest of each order request sent with an "
                                                       "Idempotency-Key (not reversible to the contact)",
             "reason": f"makes retries safe; expires after {idempotency_key_hours} hours "
                       "(IDEMPOTENCY_KEY_HOURS)"},
        ],
    }
