"""The orders' use cases: accept an order, drive it to COMPLETED and notify once, and sweep what was left behind.

The table is the outbox. The API writes the order first and then sends its id
to the queue; that send is only the fast path. If it fails (or the process
dies right after the write) the order is still durable, and the sweep, which
lists every order with work left in the sparse pending-index-v2, re-queues it.
The worker is idempotent, so a message sent twice costs nothing: each step is
a conditional write that only one delivery can make, and the notification is
published only while `notifiedAt` is absent (see notifications.py for the one
window in which a subscriber may see it twice).

An order keeps the correlation id of the request that placed it
(`correlationId`), so a message the sweep sends again carries it too.

An order's contact (`notify`) is personal data kept for one use, the
notification: it is stored on the order item and removed by the write that
records the notification (or fails the order), shown only by GET /orders/{id}
(to the order's customer and to operators: the access rules) until then, never
in a listing or a log line, and sent in the body of the notification, never in
its attributes (notifications.py). Orders placed before it moved into the
order keep it in OrderContactsTable (contacts.py), read as a fallback.
"""
import time
import uuid
from typing import Any, Callable

from chalicelib import correlation, metrics, settings
from chalicelib.adapters.queues import MessageQueue
from chalicelib.batch import Received
from chalicelib.catalog.stores import ProductStore
from chalicelib.clock import iso_from_epoch, utc_now
from chalicelib.errors import InvalidRequest, NotFound
from chalicelib.idempotency import IdempotencyKeys, fingerprint
from chalicelib.identity import Caller, Forbidden
from chalicelib.logs import logger
from chalicelib.money import CENT, money_text
from chalicelib.orders.contacts import OrderContacts
from chalicelib.orders.model import (NewOrder, OrderMessage, all_pending_shards, new_order_id, order_total,
                                     pending_shard, short)
from chalicelib.orders.notifications import OrderNotifier
from chalicelib.orders.repository import OrderRepository
from chalicelib.orders.states import COMPLETED, FAILED, PROCESSING, RECEIVED
from chalicelib.pagination import bounded_page, parse_page_size
from chalicelib.validation import parse_uuid, validate

# What GET /orders/{id} shows; everything else (pendingShard, notifiedAt...) is bookkeeping.
PUBLIC_FIELDS = ("orderId", "customerId", "status", "createdAt", "updatedAt")
MAX_CUSTOMER_ID = 128


class OrderService:
    """What the REST API does with orders."""

    def __init__(self, orders: OrderRepository, queue: MessageQueue, keys: IdempotencyKeys | None = None,
                 clock: Callable[[], str] = utc_now, *, contacts: OrderContacts):
        self.orders = orders
        self.queue = queue
        self.keys = keys
        self.clock = clock
        self.contacts = contacts

    def accept(self, body: dict[str, Any], idempotency_key: str | None = None,
               caller: Caller | None = None) -> dict[str, str]:
        """Validate and store a new order as RECEIVED, then queue it.

        A customer orders for itself: its customer id is its token's `sub`, so a body's `customerId` may be
        absent or that; an operator names the customer. With an Idempotency-Key the order id is the caller's
        key's, and the key reused with another body is a 422."""
        if caller is not None and caller.is_customer:
            body = {**body, "customerId": own_customer_id(caller, body.get("customerId"))}
        order = validate(NewOrder, body)
        order_id = new_order_id(idempotency_key, caller.sub if caller else "")
        if idempotency_key and self.keys is not None:
            self.keys.remember(order_id, fingerprint(order.model_dump(mode="json")))
        now = self.clock()
        items = [item.model_dump(exclude_none=True) for item in order.items]
        record = {
            "orderId": order_id, "customerId": order.customerId, "status": RECEIVED,
            # The contact, until the notification is recorded (or the order fails): the same put, no write of
            # its own (docs/orders.md, "Write cost"); None writes no attribute.
            "items": items, "total": order_total(items), "notify": order.notify,
            "createdAt": now, "updatedAt": now, "history": [{"status": RECEIVED, "at": now}],
            "pendingShard": pending_shard(order_id), "pendingSince": now,
            "correlationId": correlation.current(),  # None (no attribute written) outside a request
        }
        stored, created = self.orders.add_if_absent(record)
        metrics.count("OrdersAccepted" if created else "OrderRequestDuplicates")
        # A retry of a request whose send failed deserves another try at it.
        if created or stored["status"] == RECEIVED:
            self._enqueue(order_id)
        logger.info("order accepted", order_id=order_id, duplicate=not created)
        return {"orderId": order_id, "status": stored["status"]}

    def _enqueue(self, order_id: str) -> None:
        try:
            self.queue.send_json({"orderId": order_id})
        except Exception:
            # The order is stored: the sweep will queue it. Failing the request
            # now would only make the client retry something already accepted.
            logger.warning("order stored but not queued; the sweep will queue it", order_id=order_id,
                           exc_info=True)

    def get(self, raw_id: str, caller: Caller | None = None) -> dict[str, Any]:
        order = self.orders.get(parse_uuid(raw_id, "The order id is not a UUID.", field="orderId"))
        # Another customer's order answers as an absent one: a customer cannot learn which ids exist.
        if order is None or (caller is not None and caller.is_customer and order.get("customerId") != caller.sub):
            raise NotFound("No order with this id.", [{"field": "orderId", "problem": "not found"}])
        return present(order, contact_of(self.contacts, order))

    def list(self, customer_id: str | None, limit: str | None, cursor: str | None,
             caller: Caller | None = None) -> dict[str, Any]:
        if caller is not None and caller.is_customer:
            customer_id = own_customer_id(caller, customer_id)
        elif caller is not None and customer_id is None:  # an operator may list every customer's orders
            def every(count: int) -> tuple[list, str | None]:  # read again shorter when over the page's bytes
                items, next_cursor = self.orders.page_all(count, cursor)
                return [present(item) for item in items], next_cursor
            return bounded_page(every, parse_page_size(limit))
        customer_id = (customer_id or "").strip()
        if not customer_id or len(customer_id) > MAX_CUSTOMER_ID:
            raise InvalidRequest("Orders are listed per customer.",
                                 [{"field": "customerId",
                                   "problem": f"is required, 1 to {MAX_CUSTOMER_ID} characters"}])
        def fetch(count: int) -> tuple[list, str | None]:  # read again shorter when over the page's bytes
            items, next_cursor = self.orders.page_for_customer(customer_id, count, cursor)
            return [present(item) for item in items], next_cursor
        return bounded_page(fetch, parse_page_size(limit))


def own_customer_id(caller: Caller, asked: Any) -> str:
    """A customer's customer id: its token's `sub`; naming anyone else is forbidden."""
    if asked is not None and asked != caller.sub:
        raise Forbidden("A customer may only place and read its own orders.",
                        [{"field": "customerId", "problem": "is not the caller's own (its token's sub)"}])
    return caller.sub


def contact_of(contacts: OrderContacts, order: dict[str, Any]) -> str | None:
    """The order's contact while it is kept: its own `notify`, which the notification's write removes.

    Fallback: an order placed while contacts lived in OrderContactsTable (`hasContact`) has it there; read it
    until that order is notified or failed, so an order in flight across the deploy is still notified with its
    contact. Removable once no such order can be unsettled (docs/orders.md, "The contact")."""
    if order.get("notify"):
        return order["notify"]
    if order.get("hasContact") and "notifiedAt" not in order and order.get("status") != FAILED:
        return contacts.get(order["customerId"], order["orderId"])
    return None


def present(order: dict[str, Any], contact: str | None = None) -> dict[str, Any]:
    """An order as the API shows it: money as exact strings, no internal attributes.

    `notify` only when `contact` is given: GET /orders/{id} gives it, listings never do (a page of orders is
    what gets exported and cached; one order's contact is one GET away for those who may see it)."""
    shown = {field: order[field] for field in PUBLIC_FIELDS}
    shown["items"] = [{"productId": item["productId"], "quantity": int(item["quantity"]),
                       "unitPrice": money_text(item["unitPrice"]) if item.get("unitPrice") is not None else None}
                      for item in order["items"]]
    shown["total"] = money_text(order["total"]) if order.get("total") is not None else None
    shown["history"] = [{key: entry[key] for key in ("status", "at", "reason") if key in entry}
                        for entry in order.get("history", [])]
    if contact is not None:
        shown["notify"] = contact
    if order.get("failureReason") is not None:
        shown["failureReason"] = order["failureReason"]
    return shown


class MalformedMessage(ValueError):
    """A message that is not `{"orderId": <uuid>}`: no retry can fix it, so it ends in the DLQ."""


class OrderMissing(RuntimeError):
    pass


class OrderWorker:
    """Drives one queued order as far as it can go: RECEIVED → PROCESSING → COMPLETED → notified."""

    # More steps than a message can legitimately need, even racing another delivery.
    MAX_STEPS = 8

    def __init__(self, orders: OrderRepository, products: ProductStore, notifier: OrderNotifier,
                 max_receive_count: int, clock: Callable[[], str] = utc_now, *, contacts: OrderContacts):
        self.orders = orders
        self.products = products
        self.notifier = notifier
        self.max_receive_count = max_receive_count
        self.clock = clock
        self.contacts = contacts

    def process(self, message: Received) -> None:
        order_id = parse_message(message.body)
        try:
            self.advance(order_id)
        except Exception as error:
            if message.receive_count >= self.max_receive_count:
                self._give_up(order_id, error, message.receive_count)
            raise

    def advance(self, order_id: str) -> None:
        order = self._read(order_id)
        if order["status"] == FAILED or (order["status"] == COMPLETED and "notifiedAt" in order):
            metrics.count("OrderMessageDuplicates")  # a redelivery, or the sweep's copy of a settled order
            return
        # This delivery's name for the notification claim, the same in every write it makes: a write applied
        # but answered with a timeout (botocore sends it again, the condition refuses it) finds its own claim.
        claim = str(uuid.uuid4())
        for _ in range(self.MAX_STEPS):
            status = order["status"]
            if status in (RECEIVED, PROCESSING):
                # None: another delivery moved it first; carry on from where it really is.
                order = self._complete(order, claim) or self._read(order_id)
            elif status == COMPLETED and "notifiedAt" not in order:
                self._notify(order, claim)
                return
            else:  # FAILED, or COMPLETED and already notified: nothing left to do
                return
        raise RuntimeError(f"order {order_id} did not settle in {self.MAX_STEPS} steps")

    def _complete(self, order: dict[str, Any], claim: str) -> dict[str, Any] | None:
        """Price the order and store it COMPLETED (with the notification's claim) or FAILED, in one write.

        A RECEIVED order goes through PROCESSING in that same write (its history records when the worker
        took it), so an order costs one write here, not two. PROCESSING is stored on its own when an attempt
        does not finish: GET /orders/{id} then shows the order in work while it is retried, and the sweep
        fails it if it stays so (stuck_after_seconds)."""
        order_id, status, started = order["orderId"], order["status"], self.clock()
        passing = (PROCESSING, started) if status == RECEIVED else None
        try:
            unpriced = sorted({item["productId"] for item in order["items"] if item.get("unitPrice") is None})
            prices = self.products.prices(unpriced) if unpriced else {}
            unknown = [product_id for product_id in unpriced if product_id not in prices]
            if unknown:
                # Retrying cannot make a product exist: fail the order now, and the message succeeds.
                logger.info("order refers to unknown products", order_id=order_id, unknown=unknown)
                failed = self.orders.transition(order_id, status, FAILED, self.clock(), passing=passing,
                                                reason=short(f"unknown product(s): {', '.join(unknown)}"))
                metrics.count("OrdersFailed", int(failed is not None))
                return failed
            items = [{**item, "unitPrice": item["unitPrice"] if item.get("unitPrice") is not None
                      else prices[item["productId"]].quantize(CENT)}
                     for item in order["items"]]
            completed = self.orders.transition(
                order_id, status, COMPLETED, self.clock(), passing=passing,
                changes={"items": items, "total": order_total(items)},
                claim=(claim, int(time.time()) + self.NOTIFY_LEASE_SECONDS))
        except Exception:
            if status == RECEIVED:
                self._mark_processing(order_id, started)
            raise
        metrics.count("OrdersCompleted", int(completed is not None))
        return completed

    def _mark_processing(self, order_id: str, started: str) -> None:
        """An attempt that did not finish leaves the order PROCESSING, as it is until a retry finishes it."""
        try:
            self.orders.transition(order_id, RECEIVED, PROCESSING, started)
        except Exception:  # the attempt's own error is the one to report; the order stays RECEIVED
            logger.warning("could not mark the order PROCESSING", order_id=order_id, exc_info=True)

    NOTIFY_LEASE_SECONDS = 30

    def _notify(self, order: dict[str, Any], claim: str) -> None:
        # The COMPLETED write took the claim; a later delivery (or this one, after a lost answer) takes it here.
        held = order.get("notifyingClaim") == claim and order.get("notifyingUntil", 0) > time.time()
        if not held and not self.orders.claim_notification(order["orderId"], time.time(),
                                                           self.NOTIFY_LEASE_SECONDS, claim=claim):
            # Another delivery is publishing it; if that one dies, the sweep re-queues the order.
            logger.info("notification already being sent", order_id=order["orderId"])
            metrics.count("OrderMessageDuplicates")
            return
        try:
            contact = contact_of(self.contacts, order)  # None once expired or erased: notified without it
            message_id = self.notifier.completed({**order, "notify": contact})
        except Exception:
            self.orders.release_notification(order["orderId"])
            raise
        recorded = self.orders.mark_notified(order["orderId"], self.clock())
        metrics.count("OrdersNotified")
        logger.info("order notified", order_id=order["orderId"], sns_message_id=message_id,
                    already_recorded=not recorded)

    def _give_up(self, order_id: str, error: Exception, attempts: int) -> None:
        """On the last delivery, settle the order as FAILED before its message goes to the DLQ."""
        try:
            order = self.orders.get(order_id)
            # A COMPLETED order only lacks its notification: the sweep re-queues it.
            if order is None or order["status"] not in (RECEIVED, PROCESSING):
                return
            reason = short(f"processing failed {attempts} times: {error or type(error).__name__}")
            if self.orders.transition(order_id, order["status"], FAILED, self.clock(), reason=reason) is None:
                logger.warning("order changed while being marked FAILED", order_id=order_id)
            else:
                metrics.count("OrdersFailed")
        except Exception:
            logger.exception("could not mark the order FAILED; the sweep will", order_id=order_id)

    def _read(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise OrderMissing(f"order {order_id} is not in the table")
        return order


def parse_message(body: str) -> str:
    try:
        return str(OrderMessage.model_validate_json(body).orderId)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise MalformedMessage(f"not an order message: {short(str(error), 200)}") from None


def requeue_after_seconds() -> float:
    """How long an order may wait in RECEIVED (or unnotified in COMPLETED) before the sweep re-queues it (read
    at each sweep, as a test or an operator may change it between two)."""
    return settings.orders_requeue_after_seconds()


def stuck_after_seconds() -> float:
    """How long an order may stay PROCESSING: the queue's visibility (180 s) × 5 receives, then it is FAILED."""
    return settings.orders_stuck_after_seconds()


class OrderSweeper:
    """The relay of the outbox: finds orders left behind and sends them on again (it never notifies).

    Every sweep re-sends each order that has waited longer than
    ORDERS_REQUEUE_AFTER_SECONDS, whether or not its first message is still
    queued: while the queue holds a backlog older than that, orders get
    duplicate messages. They cost a read each (the worker is idempotent);
    raise the setting if a backlog of minutes is normal.
    """

    def __init__(self, orders: OrderRepository, queue: MessageQueue, clock: Callable[[], str] = utc_now,
                 now: Callable[[], float] = time.time):
        self.orders = orders
        self.queue = queue
        self.clock = clock
        self.now = now

    def sweep(self) -> dict[str, int]:
        now = self.now()
        requeue_before = iso_from_epoch(now - requeue_after_seconds())
        stuck_before = iso_from_epoch(now - stuck_after_seconds())
        counts = {"requeued": 0, "failed": 0}
        for shard in all_pending_shards():
            # Every order placed before either cut-off: each is then judged by how long it has been in its status.
            for order_id in self.orders.waiting_since(shard, max(requeue_before, stuck_before)):
                outcome = self._handle(order_id, stuck_before, requeue_before)
                if outcome:
                    counts[outcome] += 1
        metrics.count("OrdersRequeued", counts["requeued"])
        metrics.count("OrdersFailed", counts["failed"])
        if any(counts.values()):
            logger.info("orders swept", requeued=counts["requeued"], failed=counts["failed"])
        return counts

    def _handle(self, order_id: str, stuck_before: str, requeue_before: str) -> str | None:
        order = self.orders.get(order_id)  # the index may lag the table
        if order is None:
            return None
        status = order["status"]
        # How long it has been in its status: pending-index-v2 only knows when it was placed.
        since = order.get("updatedAt") or order.get("pendingSince", "")
        if status == RECEIVED or (status == COMPLETED and "notifiedAt" not in order):
            if since > requeue_before:
                return None
            # The id of the request that placed it (an order stored before ids were kept: its own id).
            with correlation.bind(order.get("correlationId") or order_id):
                self.queue.send_json({"orderId": order_id})
            return "requeued"
        if status == PROCESSING and since <= stuck_before:
            failed = self.orders.transition(order_id, PROCESSING, FAILED, self.clock(),
                                            reason="processing did not finish")
            return "failed" if failed else None
        return None


def __getattr__(name: str) -> Any:
    """The orders' service getters (and `reset`) are chalicelib/bootstrap.py's: found there for the tests and
    tools that still take them from here."""
    if name in ("orders", "order_worker", "order_sweeper", "order_contacts", "reset"):
        from chalicelib import bootstrap
        return bootstrap.reset_services if name == "reset" else getattr(bootstrap, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
