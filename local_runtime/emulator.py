"""The embedded AWS emulator: moto in server mode, with the fixes that make it usable for this app.

Run as `python -m local_runtime.emulator -H 127.0.0.1 -p PORT` (moto.server's own arguments).

1. DynamoDB TransactWriteItems: moto deep-copies every table a transaction
   touches, once per item, to be able to roll back. The log worker's
   transactions touch a table that holds one marker per message, so each
   transaction got slower as a batch went on (quadratic). Here conditions are
   checked first and the writes applied after, with only the touched items
   kept for a rollback: the same all-or-nothing result.
2. Atomic writes: moto's server threads can interleave a conditional write's
   check with another write to the same item; DynamoDB cannot. Writes here
   take one lock, so conditional writes behave as on AWS (two workers racing
   to claim a report: exactly one wins).
3. SQS cost per call: moto recomputes a queue's approximate message counts
   (a scan of every message) whenever it reads the queue's attributes, which
   it does on every send and for every message it receives. Counts are
   cached for half a second here (SQS's own counts are approximate and lag),
   longer on a deep queue so that recounting stays under 5% of the time, and
   the clock is read with time.time() instead of moto's datetime math.
4. Deep queues: moto builds the list of every visible message on each
   receive and scans the whole queue twice per deleted message. Here visible
   messages are produced lazily (a receive stops once it has its batch) and a
   delete stops at the message it deletes.
5. Lost and doubled messages: moto deletes a message by replacing the
   queue's list with a copy, outside the lock its sends append under, so a
   send racing a delete was lost (a 100k-line benchmark never completed); and
   two receives racing each other could both take one message. Deletes and
   receives here hold the queue's own lock, as sends do.
6. Per request, moto's dispatcher lists its own package directory (under a
   global lock) to route the call, and werkzeug logs a line: the listing is
   done once here, and request logging is off.
7. DNS rebinding: moto answers any request whatever its `Host`, so a web page
   the developer has open could rebind its own name to 127.0.0.1 and read or
   write every bucket, table and queue here (moto takes any credentials).
   Here a request whose `Host` is not a loopback name (`localhost`,
   `*.localhost`, 127.0.0.0/8, `[::1]`, any port) is refused with a 403;
   a rebound name is never one of those, and browsers resolve `*.localhost`
   to loopback themselves.
8. PartiQL INSERTs: moto's PartiQL cannot take an INSERT's `?` parameters
   (and copies every table into its parser per statement). The invoice
   ingester stores new invoices with BatchExecuteStatement INSERTs, so these
   are run here as DynamoDB runs them: put if absent, DuplicateItem if not.
"""
import copy
import ipaddress
import json
import re
import sys
import threading
import time
from functools import wraps

WRITE_LOCK = threading.RLock()


def _locked(method):
    @wraps(method)
    def wrapper(*args, **kwargs):
        with WRITE_LOCK:
            return method(*args, **kwargs)
    return wrapper


def _transact_write_items(self, transact_items):
    from moto.dynamodb.exceptions import (ConditionalCheckFailed, MultipleTransactionsException,
                                          TooManyTransactionsException, TransactionCanceledException,
                                          TransactWriteSingleOpException)
    from moto.dynamodb.comparisons import get_filter_expression as condition_of

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    targets, errors, plan = set(), [], []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        table_name = op["TableName"]
        table = self.get_table(table_name)
        if op_type == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        target = (table_name, str(dict(sorted(key.items()))))
        if target in targets:
            raise MultipleTransactionsException()
        targets.add(target)
        current = self.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = condition_of(condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues"))
            if not check.expr(current):
                original = current.to_json()["Attributes"] if current and \
                    op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
                errors.append(("ConditionalCheckFailed", str(ConditionalCheckFailed().message), original))
                continue
        errors.append((None, None, None))
        plan.append((op_type, op, table_name, key, copy.deepcopy(current)))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    applied = []
    try:
        for op_type, op, table_name, key, before in plan:
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(table_name, op["Item"], expression_attribute_names=names,
                              expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 expression_attribute_names=names, expression_attribute_values=values)
            applied.append((table_name, key, before))
    except Exception:
        for table_name, key, before in reversed(applied):  # all or nothing
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before.to_json()["Attributes"])
        raise


_INSERT = re.compile(r"""INSERT INTO "((?:[^"]|"")+)" VALUE \{(.*)\}""", re.DOTALL)
_INSERT_ATTRIBUTE = re.compile(r"'((?:[^']|'')*)'\s*:\s*\?")


def _partiql_inserts(original):
    """Fix 8: BatchExecuteStatement of parameterised INSERTs, as DynamoDB runs them.

    moto's PartiQL cannot take an INSERT's `?` parameters, and it copies every
    item of every table into the parser for each statement. An INSERT is a put
    if absent (DuplicateItem when the key is held, the item left alone), each
    statement on its own; a batch holding any other statement goes to moto."""
    @wraps(original)
    def batch_execute_statement(self, statements):
        parsed = [(_INSERT.fullmatch(s["Statement"].strip()), s.get("Parameters", [])) for s in statements]
        if not parsed or not all(match for match, _ in parsed):
            return original(self, statements)
        responses = []
        for match, parameters in parsed:
            table_name = match.group(1).replace('""', '"')
            names = [n.replace("''", "'") for n in _INSERT_ATTRIBUTE.findall(match.group(2))]
            if table_name not in self.tables:
                responses.append({"Error": {"Code": "ResourceNotFound", "Message": "Requested resource not found"}})
                continue
            if len(names) != len(parameters):
                responses.append({"TableName": table_name, "Error": {
                    "Code": "ValidationError", "Message": "Number of parameters in request and statement don't match."}})
                continue
            item = dict(zip(names, parameters))
            table = self.get_table(table_name)
            key = {name: item[name] for name in (table.hash_key_attr, table.range_key_attr) if name}
            with WRITE_LOCK:
                if self.get_item(table_name, key) is not None:
                    responses.append({"TableName": table_name, "Error": {
                        "Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"}})
                    continue
                self.put_item(table_name, item)
            responses.append({"TableName": table_name})
        return responses
    return batch_execute_statement


COUNT_CACHE_SECONDS = 0.5
COUNT_COST_SHARE = 0.05


def _cached_count(count):
    """A count at most COUNT_CACHE_SECONDS old, or older on a deep queue: a recount scans every message
    (moto does it on every send), so it is redone no more often than keeps it under 5% of the time,
    by one thread while the others read the previous value."""
    def getter(queue):
        cache = queue.__dict__.setdefault("_local_runtime_counts", {})
        now = time.monotonic()
        hit = cache.get(count.__name__)
        if hit is not None and now - hit[0] <= max(COUNT_CACHE_SECONDS, hit[2] / COUNT_COST_SHARE):
            return hit[1]
        lock = queue.__dict__.setdefault("_local_runtime_count_lock", threading.Lock())
        if hit is not None and not lock.acquire(blocking=False):
            return hit[1]  # another thread is recounting
        if hit is None:
            lock.acquire()
        try:
            started = time.monotonic()
            value = count(queue)
            cache[count.__name__] = (started, value, time.monotonic() - started)
            return value
        finally:
            lock.release()
    return property(getter)


class _VisibleMessages:
    """Queue.messages, lazily: iterating stops when the caller has enough."""

    def __init__(self, queue):
        self.messages = list(queue._messages)  # a snapshot: other threads replace, never mutate, the list

    def __iter__(self):
        return (m for m in self.messages if m.visible and not m.delayed)

    def __bool__(self):
        return any(True for _ in self)

    def __len__(self):
        return sum(1 for _ in self)


def _delete_message(self, receipt_handle):
    from moto.sqs.exceptions import ReceiptHandleIsInvalid
    with self._messages_lock:
        if receipt_handle in self.deleted_messages:
            return
        messages = self._messages
        for index, message in enumerate(messages):
            if message.had_receipt_handle(receipt_handle):
                self.pending_messages.discard(message)
                self.deleted_messages.update(message.all_receipt_handles)
                self._messages = messages[:index] + messages[index + 1:]
                return
    raise ReceiptHandleIsInvalid()


def _locked_receive(receive):
    @wraps(receive)
    def wrapper(self, queue_name, *args, **kwargs):
        # A long poll waits on this same condition, which releases the lock while it waits.
        with self.get_queue(queue_name)._messages_lock:
            return receive(self, queue_name, *args, **kwargs)
    return wrapper


def _retained(self, queue_name, message):
    retention = self.get_queue(queue_name).message_retention_period
    return int(retention) + message.sent_timestamp / 1000 > time.time()


def lock_dynamodb_writes() -> None:
    """Fix 1, 2 and 8: atomic single-item writes, transactions without whole-table copies, and batches of
    PartiQL INSERTs (the invoice ingester's) run as DynamoDB runs them (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend
    if getattr(DynamoDBBackend, "_writes_locked", False):
        return
    for name in ("put_item", "update_item", "delete_item", "batch_write_item"):
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _locked(_transact_write_items)
    DynamoDBBackend.batch_execute_statement = _partiql_inserts(DynamoDBBackend.batch_execute_statement)
    DynamoDBBackend._writes_locked = True


def lock_sqs_queues() -> None:
    """Fix 4 and 5: lazy receives, deletes that stop at their message, both under the queue's lock (idempotent)."""
    import moto.sqs.models as sqs_models
    if getattr(sqs_models.SQSBackend, "_queues_locked", False):
        return
    sqs_models.Queue.messages = property(_VisibleMessages)
    sqs_models.Queue.delete_message = _delete_message
    sqs_models.SQSBackend.receive_message = _locked_receive(sqs_models.SQSBackend.receive_message)
    sqs_models.SQSBackend._queues_locked = True


def patch_moto() -> None:
    import logging

    import moto.backends
    import moto.sqs.models as sqs_models

    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    lock_dynamodb_writes()
    for name in ("approximate_number_of_messages", "approximate_number_of_messages_not_visible",
                 "approximate_number_of_messages_delayed"):
        setattr(sqs_models.Queue, name, _cached_count(getattr(sqs_models.Queue, name).fget))
    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = _retained
    lock_sqs_queues()
    original_millis = sqs_models.unix_time_millis
    sqs_models.unix_time_millis = lambda dt=None: time.time() * 1000.0 if dt is None else original_millis(dt)


_HOST_AND_PORT = re.compile(r"(\[[^\]]*\]|[^:\[\]]*)(?::[0-9]{1,5})?")


def loopback_host(host: str | None) -> bool:
    """Whether a Host header names this machine's loopback interface (port or not): fix 7."""
    match = _HOST_AND_PORT.fullmatch((host or "").strip().lower())
    if not match or not match.group(1):
        return False
    name = match.group(1).strip("[]").removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LoopbackHostsOnly:
    """WSGI middleware: a request for any other Host is a 403 that never reaches moto (fix 7)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST")
        if loopback_host(host):
            return self.app(environ, start_response)
        body = json.dumps({"error": f"Host {host!r} is not a loopback name: this emulator answers only "
                                    "localhost, *.localhost, 127.0.0.0/8 and [::1]"}).encode()
        start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def main(argv: list[str]) -> None:
    patch_moto()
    import moto.server
    dispatcher = moto.server.DomainDispatcherApplication
    # moto.server.main builds its WSGI app from this name: the guard wraps whatever it builds.
    moto.server.DomainDispatcherApplication = lambda *args, **kwargs: LoopbackHostsOnly(dispatcher(*args, **kwargs))
    moto.server.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
