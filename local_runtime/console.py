"""The local console: one page that shows where every message of the local system is (dev tooling, never shipped).

In an asynchronous system the first question is "where is my message?". The
answers are spread over queues, DLQs, tables, buckets and the runner's
deliveries; tools that gather them exist only in commercial emulators. `make
run` serves this page on CONSOLE_PORT (8001). It shows, refreshing every
1.5 s: every queue with its DLQ (visible, in flight, dead), a DLQ's messages
(peeked, not consumed) and a redrive button; the runner's last deliveries,
filterable by correlation id; log batches with their progress and report;
orders by status; invoice uploads; the SNS messages published; and the fault
switch that poisons chosen messages (local_runtime/faults.py).

Dependency-light on purpose: the standard library's ThreadingHTTPServer,
server-rendered HTML and ~80 lines of vanilla JavaScript, no build step. The
data functions (`ConsoleData`) are separate from the HTTP layer, so that the
tests can call them against moto. Elements carry stable ids and data-
attributes (tests/e2e/test_console.py finds them). It listens on 127.0.0.1
only: it can move and read messages, and it has no authentication.

A stored report is served as JSON when it is JSON, and otherwise as a
download (`Content-Disposition: attachment`), never with the content type it
was stored with: whoever wrote the object chose that type, and `text/html`
would run its scripts on the console's own origin.
"""
import html
import json
import re
import threading
import time
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from botocore.config import Config
from botocore.exceptions import ClientError

from local_runtime import api_reference
from local_runtime.faults import FaultSwitch
from local_runtime.runner import CORRELATION_ATTRIBUTE, History, INTERNAL_PREFIX

REFRESH_MS = 1500
PEEK_LIMIT = 10
LISTED_RUNS = 10  # log batches and invoice uploads shown, newest first
DELIVERIES_SHOWN = 100
NOTIFICATIONS_SHOWN = 30
SCAN_CACHE_SECONDS = 3.0  # how stale the list of uploads (a table scan) may be; progress is read at every refresh
TERMINAL_STATUSES = {"completed", "failed"}
StatusReader = Callable[[str], dict]


def _attribute_for_send(value: dict[str, Any]) -> dict[str, Any]:
    """A received message attribute, as SendMessage takes it (received ones carry empty list fields)."""
    kept = {"DataType": value["DataType"]}
    for name in ("StringValue", "BinaryValue"):
        if name in value:
            kept[name] = value[name]
    return kept


class ConsoleData:
    """What the console shows, read from the emulator, the runner's history and the app's own status services."""

    def __init__(self, session, environment: dict[str, str], history: History | None = None,
                 faults: FaultSwitch | None = None, log_status: StatusReader | None = None,
                 invoice_status: StatusReader | None = None, api: str | None = None):
        config = Config(max_pool_connections=20)  # one connection per concurrent page request
        self.sqs = session.client("sqs", config=config)
        self.dynamodb = session.client("dynamodb", config=config)
        self.s3 = session.client("s3", config=config)
        self.env = environment
        self.history = history or History()
        self.faults = faults or FaultSwitch()
        self.log_status = log_status
        self.invoice_status = invoice_status
        self.api = api
        self._cache: dict[str, tuple[float, Any]] = {}
        self._terminal: dict[tuple[str, str], dict] = {}  # (table, run id) -> a finished run's status
        self._lock = threading.Lock()

    # --- queues --------------------------------------------------------------------

    def _queue_table(self) -> dict[str, dict[str, Any]]:
        """Every queue by ARN: name, url, counts, and its DLQ's ARN when it has a redrive policy."""
        queues = {}
        for url in self.sqs.list_queues(MaxResults=1000).get("QueueUrls", []):
            try:
                attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                    "QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                    "RedrivePolicy"])["Attributes"]
            except self.sqs.exceptions.QueueDoesNotExist:  # deleted between the listing and now
                continue
            policy = json.loads(attributes.get("RedrivePolicy") or "{}")
            queues[attributes["QueueArn"]] = {
                "name": url.rsplit("/", 1)[-1], "url": url,
                "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "dlq_arn": policy.get("deadLetterTargetArn"),
                "max_receive_count": int(policy["maxReceiveCount"]) if policy.get("maxReceiveCount") else None,
            }
        return queues

    def queues(self) -> list[dict[str, Any]]:
        """Each queue that is not itself a DLQ, with its DLQ's counts; the app's queues first, the runner's after."""
        table = self._queue_table()
        dead = {q["dlq_arn"] for q in table.values() if q["dlq_arn"]}
        rows = []
        for arn, queue in table.items():
            if arn in dead:
                continue
            dlq = table.get(queue["dlq_arn"]) if queue["dlq_arn"] else None
            rows.append({
                "name": queue["name"], "url": queue["url"], "visible": queue["visible"],
                "in_flight": queue["in_flight"], "max_receive_count": queue["max_receive_count"],
                "internal": queue["name"].startswith(INTERNAL_PREFIX),
                "dlq": {"name": dlq["name"], "url": dlq["url"], "visible": dlq["visible"],
                        "in_flight": dlq["in_flight"], "messages": dlq["visible"] + dlq["in_flight"]} if dlq else None,
            })
        return sorted(rows, key=lambda r: (r["internal"], r["name"]))

    def _queue(self, name: str) -> dict[str, Any]:
        for queue in self._queue_table().values():
            if queue["name"] == name:
                return queue
        raise LookupError(f"no queue named {name!r}")

    def peek(self, queue_name: str, limit: int = PEEK_LIMIT) -> list[dict[str, Any]]:
        """Up to `limit` messages of a DLQ, left visible: received with a visibility timeout of 0.

        Only for queues without a redrive policy: a receive counts towards maxReceiveCount, and peeking at a
        work queue would push its messages towards their DLQ.
        """
        queue = self._queue(queue_name)
        if queue["dlq_arn"]:
            raise PermissionError(f"{queue_name} has a redrive policy; peeking would count as receives")
        messages = self.sqs.receive_message(
            QueueUrl=queue["url"], MaxNumberOfMessages=min(limit, 10), VisibilityTimeout=0, WaitTimeSeconds=0,
            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        peeked = []
        for message in messages:
            attributes = {name: value.get("StringValue", value.get("BinaryValue"))
                          for name, value in message.get("MessageAttributes", {}).items()}
            system = message.get("Attributes", {})
            peeked.append({
                "message_id": message["MessageId"], "body": message["Body"], "attributes": attributes,
                "correlation_id": attributes.get(CORRELATION_ATTRIBUTE),
                "receive_count": int(system.get("ApproximateReceiveCount", 0)),
                "sent_at": int(system["SentTimestamp"]) / 1000 if system.get("SentTimestamp") else None,
            })
        return peeked

    def redrive(self, dlq_name: str, limit: int = 10_000) -> dict[str, Any]:
        """Move a DLQ's messages back to the queue whose redrive policy names it, message attributes kept.

        moto has no StartMessageMoveTask, so this is what that task does: receive, send to the source, and
        delete only what the source accepted. A message arrives in the source as a new message (a new id and
        receive count), as with SQS's own redrive.
        """
        table = self._queue_table()
        dlq_arn, dlq = next(((arn, q) for arn, q in table.items() if q["name"] == dlq_name), (None, None))
        if dlq is None:
            raise LookupError(f"no queue named {dlq_name!r}")
        sources = [q for q in table.values() if q["dlq_arn"] == dlq_arn]
        if len(sources) != 1:
            raise LookupError(f"{dlq_name} is the DLQ of {len(sources)} queues; cannot tell where to move back")
        source = sources[0]
        fifo = source["name"].endswith(".fifo")
        moved = 0
        while moved < limit:
            messages = self.sqs.receive_message(
                QueueUrl=dlq["url"], MaxNumberOfMessages=min(10, limit - moved), VisibilityTimeout=30,
                WaitTimeSeconds=0, AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            if not messages:
                break
            for message in messages:
                # One at a time: a batch of ten long messages can exceed a request's size, and a message
                # is deleted from the DLQ only once its copy was accepted, so nothing is lost.
                entry = {"MessageBody": message["Body"],
                         "MessageAttributes": {name: _attribute_for_send(value)
                                               for name, value in message.get("MessageAttributes", {}).items()}}
                if fifo:
                    entry["MessageGroupId"] = message["Attributes"].get("MessageGroupId", "redrive")
                    entry["MessageDeduplicationId"] = message["MessageId"]
                try:
                    self.sqs.send_message(QueueUrl=source["url"], **entry)
                except ClientError as error:  # the rest stay in the DLQ (visible again in 30 s); say so
                    return {"moved": moved, "from": dlq_name, "to": source["name"],
                            "failed": [error.response["Error"].get("Message", str(error))]}
                try:
                    self.sqs.delete_message(QueueUrl=dlq["url"], ReceiptHandle=message["ReceiptHandle"])
                except ClientError as error:  # sent, but still in the DLQ: a second redrive would send it again
                    return {"moved": moved + 1, "from": dlq_name, "to": source["name"],
                            "failed": [f"{message['MessageId']} was moved but is still in {dlq_name} "
                                       f"(delete it there): {error.response['Error'].get('Message', error)}"]}
                moved += 1
        return {"moved": moved, "from": dlq_name, "to": source["name"], "failed": []}

    # --- the flows' own state ------------------------------------------------------------

    def _cached(self, name: str, seconds: float, compute: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
        if hit and now - hit[0] < seconds:
            return hit[1]
        value = compute()
        with self._lock:
            self._cache[name] = (now, value)
        return value

    def _latest_runs(self, table: str) -> list[dict[str, str]]:
        """The `LATEST#<key>` pointers of an upload runs table (chalicelib/streaming/runs.py): each key's newest run.

        A scan, which is fine for a dev tool on an emulator's table, and cached for a few seconds.
        """
        def scan():
            runs, start = [], None
            while True:
                params = {"TableName": table, "FilterExpression": "sk = :latest",
                          "ExpressionAttributeValues": {":latest": {"S": "LATEST"}}}
                if start:
                    params["ExclusiveStartKey"] = start
                page = self.dynamodb.scan(**params)
                for item in page.get("Items", []):
                    runs.append({"key": item["pk"]["S"].removeprefix("LATEST#"),
                                 "run_id": item.get("run_id", {}).get("S", ""),
                                 "uploaded_at": item.get("uploaded_at", {}).get("S", "")})
                start = page.get("LastEvaluatedKey")
                if not start:
                    return sorted(runs, key=lambda r: r["uploaded_at"], reverse=True)
        return self._cached(f"runs:{table}", SCAN_CACHE_SECONDS, scan)

    def _statuses(self, table_env: str, reader: StatusReader | None, limit: int) -> list[dict[str, Any]] | None:
        table = self.env.get(table_env)
        if not table or reader is None:
            return None
        statuses = []
        for run in self._latest_runs(table)[:limit]:
            known = self._terminal.get((table, run["run_id"]))
            if known is None:
                try:
                    known = reader(run["key"])
                except Exception as error:  # one unreadable run must not hide the others
                    known = {"key": run["key"], "status": "unknown", "error": f"{type(error).__name__}: {error}"}
                if known.get("status") in TERMINAL_STATUSES and known.get("run_id") == run["run_id"]:
                    self._terminal[(table, run["run_id"])] = known  # a finished run does not change
            statuses.append({"key": run["key"], **known})
        return statuses

    def log_batches(self, limit: int = LISTED_RUNS) -> list[dict[str, Any]] | None:
        """The newest log uploads' progress, as GET /log-batches?key= answers it (report content left out)."""
        statuses = self._statuses("LOG_BATCHES_TABLE_NAME", self.log_status, limit)
        if statuses is None:
            return None
        shown = []
        for status in statuses:
            status = dict(status)
            total, processed = status.get("total_items"), status.get("processed_items") or 0
            percent = 100 if total == 0 else (min(100, int(processed * 100 / total)) if total else 0)
            if status.get("status") == "completed":
                percent = 100
            report = status.get("report")
            status["report"] = {"bucket": report["bucket"], "key": report["key"]} if report else None
            shown.append({**status, "percent": percent})
        return shown

    def invoice_uploads(self, limit: int = LISTED_RUNS) -> list[dict[str, Any]] | None:
        return self._statuses("INVOICE_UPLOADS_TABLE_NAME", self.invoice_status, limit)

    def orders_by_status(self) -> dict[str, int] | None:
        table = self.env.get("ORDERS_TABLE_NAME")
        if not table:
            return None

        def scan():
            counts, start = Counter(), None
            while True:
                params = {"TableName": table, "ProjectionExpression": "#s",
                          "ExpressionAttributeNames": {"#s": "status"}}
                if start:
                    params["ExclusiveStartKey"] = start
                page = self.dynamodb.scan(**params)
                counts.update(item.get("status", {}).get("S", "?") for item in page.get("Items", []))
                start = page.get("LastEvaluatedKey")
                if not start:
                    return dict(sorted(counts.items()))
        return self._cached("orders", 1.0, scan)

    def report_buckets(self) -> set[str]:
        return {self.env[name] for name in ("REPORTS_BUCKET_NAME", "PROCESSED_DATA_BUCKET_NAME") if self.env.get(name)}

    def report(self, bucket: str, key: str) -> tuple[bytes, str]:
        """A report's bytes and the type to serve them as: `application/json` if they are JSON, else
        `application/octet-stream` (a download). The stored ContentType is not read at all."""
        if bucket not in self.report_buckets():
            raise PermissionError(f"{bucket} is not a report bucket")
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return body, "application/octet-stream"
        return body, "application/json"

    # --- everything at once -------------------------------------------------------------

    def state(self, correlation_id: str | None = None) -> dict[str, Any]:
        def guarded(compute):
            try:
                return compute()
            except Exception as error:  # the emulator restarting, a table not there yet: show it, keep the rest
                return {"error": f"{type(error).__name__}: {error}"}
        return {
            "filter": correlation_id or "",
            "queues": guarded(self.queues),
            "deliveries": [d.to_dict() for d in self.history.deliveries(correlation_id, DELIVERIES_SHOWN)],
            "log_batches": guarded(self.log_batches),
            "orders": guarded(self.orders_by_status),
            "invoice_uploads": guarded(self.invoice_uploads),
            "notifications": self.history.notifications(correlation_id, NOTIFICATIONS_SHOWN),
            "faults": self.faults.rules(),
        }


# --- HTML ---------------------------------------------------------------------------------

def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _clock(epoch: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}" if epoch else ""


def _cid_links(ids: list[str]) -> str:
    if not ids:
        return "-"
    return " ".join(f'<a class="cid" data-cid="{esc(i)}" href="/?{esc(urlencode({"cid": i}))}">{esc(i)}</a>'
                    for i in ids)


def _failed_section(name: str, value: Any) -> str | None:
    if value is None:
        return f'<p class="muted">This stage has no {esc(name)}.</p>'
    if isinstance(value, dict) and "error" in value:
        return f'<p class="error">Could not read {esc(name)}: {esc(value["error"])}</p>'
    return None


def render_queues(queues) -> str:
    failed = _failed_section("queues", queues)
    if failed:
        return failed
    rows = []
    for q in queues:
        dlq = q["dlq"]
        dlq_cells = ('<td class="dlq-name muted">no DLQ</td><td class="dlq-count"></td><td></td>' if not dlq else
                     f'<td class="dlq-name">{esc(dlq["name"])}</td>'
                     f'<td class="dlq-count num{" alert" if dlq["messages"] else ""}" data-count="{dlq["messages"]}">'
                     f'{dlq["messages"]}</td>'
                     f'<td class="actions"><button type="button" data-action="peek" data-queue="{esc(dlq["name"])}" '
                     f'id="peek-{esc(q["name"])}"{"" if dlq["messages"] else " disabled"}>show body</button> '
                     f'<button type="button" data-action="redrive" data-dlq="{esc(dlq["name"])}" '
                     f'id="redrive-{esc(q["name"])}"{"" if dlq["messages"] else " disabled"}>redrive</button></td>')
        rows.append(
            f'<tr class="queue{" internal" if q["internal"] else ""}" data-queue="{esc(q["name"])}" '
            f'data-visible="{q["visible"]}" data-in-flight="{q["in_flight"]}" '
            f'data-dlq-messages="{dlq["messages"] if dlq else ""}">'
            f'<td class="name">{esc(q["name"])}</td><td class="visible num">{q["visible"]}</td>'
            f'<td class="in-flight num">{q["in_flight"]}</td>'
            f'<td class="num muted">{esc(q["max_receive_count"] or "")}</td>{dlq_cells}</tr>')
    return ('<table><thead><tr><th>queue</th><th>visible</th><th>in flight</th><th>max receives</th>'
            '<th>DLQ</th><th>in DLQ</th><th></th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def render_deliveries(deliveries: list[dict], wanted: str) -> str:
    if not deliveries:
        return f'<p class="muted" id="no-deliveries">No deliveries{" match " + esc(wanted) if wanted else " yet"}.</p>'
    rows = []
    for d in deliveries:
        state = "failed" if d["failed"] else "ok"
        rows.append(
            f'<tr class="delivery {state}" data-kind="{esc(d["kind"])}" data-handler="{esc(d["handler"])}" '
            f'data-records="{d["records"]}" data-failed="{d["failed"]}">'
            f'<td>{esc(_clock(d["at"]))}</td><td>{esc(d["kind"])}</td><td class="source">{esc(d["source"])}</td>'
            f'<td class="handler">{esc(d["handler"])}</td><td class="num">{d["records"]}</td>'
            f'<td class="num">{d["ok"]}</td><td class="num{" alert" if d["failed"] else ""}">{d["failed"]}</td>'
            f'<td class="num">{d["ms"]:.0f} ms</td><td class="cids">{_cid_links(d["correlation_ids"])}</td>'
            f'<td class="outcome">{esc(d["outcome"])}</td></tr>')
    return ('<table><thead><tr><th>time</th><th>via</th><th>source</th><th>handler</th><th>records</th><th>ok</th>'
            '<th>failed</th><th>duration</th><th>correlation id</th><th>outcome</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def render_log_batches(batches, api: str | None) -> str:
    failed = _failed_section("log batches", batches)
    if failed:
        return failed
    if not batches:
        return '<p class="muted">No log uploads yet.</p>'
    rows = []
    for b in batches:
        total = b.get("total_items")
        report = b.get("report")
        links = []
        if report:
            links.append(f'<a class="report" href="/report?{esc(urlencode(report))}">report</a>')
        if api:
            links.append(f'<a class="status-json" href="{esc(api)}/log-batches?{esc(urlencode({"key": b["key"]}))}">'
                         f'status</a>')
        links.append(f'<a class="run-deliveries" href="/?{esc(urlencode({"cid": b.get("run_id") or b["key"]}))}">'
                     f'deliveries</a>')
        rows.append(
            f'<tr class="log-batch" data-key="{esc(b["key"])}" data-status="{esc(b.get("status"))}" '
            f'data-progress="{b["percent"]}">'
            f'<td class="key">{esc(b["key"])}</td><td class="status">{esc(b.get("status"))}</td>'
            f'<td class="progress"><progress max="100" value="{b["percent"]}"></progress> '
            f'<span class="numbers">{esc(b.get("processed_items") or 0)} / {esc("?" if total is None else total)}'
            f' ({b["percent"]}%)</span></td><td>{" ".join(links)}</td></tr>')
    return ('<table><thead><tr><th>upload</th><th>status</th><th>processed / total</th><th></th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def render_orders(orders) -> str:
    failed = _failed_section("orders", orders)
    if failed:
        return failed
    if not orders:
        return '<p class="muted">No orders yet.</p>'
    return "".join(f'<span class="order-status" data-status="{esc(status)}"><b>{esc(status)}</b> '
                   f'<span class="count">{count}</span></span>' for status, count in orders.items())


def render_invoice_uploads(uploads, api: str | None) -> str:
    failed = _failed_section("invoice uploads", uploads)
    if failed:
        return failed
    if not uploads:
        return '<p class="muted">No invoice uploads yet.</p>'
    rows = []
    for u in uploads:
        report = u.get("report")
        link = f'<a class="report" href="/report?{esc(urlencode(report))}">report</a>' if report else ""
        if api:
            link += (f' <a class="status-json" href="{esc(api)}/invoice-uploads?{esc(urlencode({"key": u["key"]}))}">'
                     f'status</a>')
        rows.append(
            f'<tr class="invoice-upload" data-key="{esc(u["key"])}" data-status="{esc(u.get("status"))}">'
            f'<td class="key">{esc(u["key"])}</td><td class="status">{esc(u.get("status"))}</td>'
            f'<td class="num rows">{esc(u.get("rows", ""))}</td>'
            f'<td class="num accepted">{esc(u.get("accepted", ""))}</td>'
            f'<td class="num rejected{" alert" if u.get("rejected") else ""}">{esc(u.get("rejected", ""))}</td>'
            f'<td>{link}</td></tr>')
    return ('<table><thead><tr><th>upload</th><th>status</th><th>rows</th><th>accepted</th><th>rejected</th>'
            '<th></th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def render_notifications(notifications: list[dict]) -> str:
    if not notifications:
        return '<p class="muted">No SNS messages published yet.</p>'
    rows = []
    for n in notifications:
        attributes = ", ".join(f"{k}={v}" for k, v in sorted(n["attributes"].items()))
        rows.append(f'<tr class="notification" data-topic="{esc(n["topic"])}"><td>{esc(_clock(n["at"]))}</td>'
                    f'<td>{esc(n["topic"])}</td><td>{esc(n.get("subject") or "")}</td>'
                    f'<td class="message"><code>{esc(n["message"])}</code></td><td class="muted">{esc(attributes)}</td>'
                    f'<td class="cids">{_cid_links([n["correlation_id"]] if n["correlation_id"] else [])}</td></tr>')
    return ('<table><thead><tr><th>time</th><th>topic</th><th>subject</th><th>message</th><th>attributes</th>'
            '<th>correlation id</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def render_faults(rules: list[dict]) -> str:
    if not rules:
        return '<p class="muted" id="no-faults">No message is poisoned.</p>'
    return "<ul>" + "".join(
        f'<li class="fault" data-handler="{esc(r["handler"])}" data-match="{esc(r["match"])}">'
        f'<b>{esc(r["handler"])}</b> fails messages whose correlation id is, or whose body contains, '
        f'<code>{esc(r["match"])}</code> <button type="button" data-action="unpoison" data-match="{esc(r["match"])}">'
        f'stop</button></li>' for r in rules) + "</ul>"


def render_live(state: dict[str, Any], api: str | None) -> str:
    """The part of the page that the browser replaces at every refresh."""
    wanted = state["filter"]
    heading = f' matching <code id="filter-shown">{esc(wanted)}</code>' if wanted else ""
    return (
        f'<section id="queues"><h2>Queues</h2>{render_queues(state["queues"])}</section>'
        f'<section id="faults"><h2>Poisoned messages</h2>{render_faults(state["faults"])}</section>'
        f'<section id="deliveries"><h2>Last deliveries{heading}</h2>'
        f'<div class="scroll">{render_deliveries(state["deliveries"], wanted)}</div></section>'
        f'<section id="log-batches"><h2>Log batches</h2>{render_log_batches(state["log_batches"], api)}</section>'
        f'<div class="pair"><section id="orders"><h2>Orders by status</h2>{render_orders(state["orders"])}</section>'
        f'<section id="invoice-uploads"><h2>Invoice uploads</h2>'
        f'{render_invoice_uploads(state["invoice_uploads"], api)}</section></div>'
        f'<section id="sns"><h2>SNS messages published{heading}</h2>'
        f'{render_notifications(state["notifications"])}</section>')


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5em 2em; color: #1d2530; background: #f7f8fa; }
header { display: flex; align-items: baseline; gap: 1.5em; flex-wrap: wrap; border-bottom: 1px solid #d5dae1; }
header h1 { font-size: 1.3em; margin: .6em 0; }
h2 { font-size: 1.05em; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #e6e9ee; vertical-align: top; }
th { font-weight: 600; color: #55606e; background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.internal td { color: #6b7480; }
tr.delivery.failed td { background: #fff3f2; }
.alert { color: #b3261e; font-weight: 700; }
.muted { color: #6b7480; }
.error { color: #b3261e; }
code { font-size: .92em; }
td.message code { white-space: pre-wrap; word-break: break-all; }
progress { width: 12em; vertical-align: middle; }
.pair { display: grid; grid-template-columns: 1fr 2fr; gap: 2em; }
.order-status { display: inline-block; margin: 0 1.2em .3em 0; }
.order-status .count { font-size: 1.3em; }
#peek { background: #fff; border: 1px solid #d5dae1; padding: .6em 1em; margin-top: 1em; }
#peek h2 { margin-top: .2em; }
#deliveries .scroll { max-height: 24em; overflow-y: auto; border-bottom: 1px solid #d5dae1; }
#deliveries thead th { position: sticky; top: 0; }
td.cids a, td.cids { font: 12px ui-monospace, monospace; word-break: break-all; }
#peek pre { background: #f1f3f6; padding: .5em; white-space: pre-wrap; word-break: break-all; }
#notice { min-height: 1.4em; color: #1f6f43; }
#notice.error { color: #b3261e; }
#connection { font-size: .85em; }
form { display: inline; }
input[type=text] { width: 22em; padding: .2em .4em; }
"""

SCRIPT = """
const live = document.getElementById('live');
const filter = document.getElementById('cid-filter');
const notice = document.getElementById('notice');
const connection = document.getElementById('connection');
let shown = live.innerHTML, timer = null;

function say(text, failed) {
  notice.textContent = text;
  notice.className = failed ? 'error' : '';
}

async function refresh() {
  clearTimeout(timer);
  try {
    const response = await fetch('/live?' + new URLSearchParams({cid: filter.value.trim()}), {cache: 'no-store'});
    const page = await response.text();
    if (page !== shown) { live.innerHTML = page; shown = page; }  // untouched when nothing changed: clicks land
    connection.textContent = 'live, updated ' + new Date().toLocaleTimeString();
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  } catch (error) {
    connection.textContent = 'cannot reach the console (is make run still running?)';
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

async function post(path, fields) {
  const response = await fetch(path, {method: 'POST', body: new URLSearchParams(fields)});
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

function showPeek(queue, messages) {
  const box = document.getElementById('peek');
  box.hidden = false;
  box.dataset.queue = queue;
  box.replaceChildren();
  const title = document.createElement('h2');
  title.textContent = `${queue}: ${messages.length} message(s) shown, left in the queue `;
  const close = document.createElement('button');
  close.type = 'button';
  close.id = 'peek-close';
  close.textContent = 'close';
  close.addEventListener('click', () => { box.hidden = true; box.replaceChildren(); });
  title.append(close);
  box.append(title);
  for (const m of messages) {
    const item = document.createElement('div');
    item.className = 'peeked';
    item.dataset.messageId = m.message_id;
    const about = document.createElement('div');
    about.textContent = `id ${m.message_id} · received ${m.receive_count} time(s) · correlation id ` +
      `${m.correlation_id || '-'} · attributes ${JSON.stringify(m.attributes)}`;
    const body = document.createElement('pre');
    body.className = 'body';
    try { body.textContent = JSON.stringify(JSON.parse(m.body), null, 2); } catch (e) { body.textContent = m.body; }
    item.append(about, body);
    box.append(item);
  }
}

document.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const action = button.dataset.action;
  try {
    if (action === 'redrive') {
      const done = await post('/api/redrive', {dlq: button.dataset.dlq});
      say(`moved ${done.moved} message(s) from ${done.from} back to ${done.to}`);
      const box = document.getElementById('peek');
      if (box.dataset.queue === done.from) { box.hidden = true; box.replaceChildren(); }  // what it showed moved
    } else if (action === 'peek') {
      const response = await fetch('/api/peek?' + new URLSearchParams({queue: button.dataset.queue}));
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error);
      showPeek(button.dataset.queue, answer.messages);
    } else if (action === 'unpoison') {
      const done = await post('/api/faults/clear', {match: button.dataset.match});
      say(`stopped ${done.removed} rule(s)`);
    }
  } catch (error) {
    say(String(error.message || error), true);
  }
  refresh();
});

document.getElementById('poison-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  try {
    await post('/api/faults', {match: form.match.value, handler: form.handler.value});
    say(`${form.handler.value} now fails messages matching ${form.match.value}`);
  } catch (error) {
    say(String(error.message || error), true);
  }
  refresh();
});

document.getElementById('unpoison-all').addEventListener('click', async () => {
  const done = await post('/api/faults/clear', {});
  say(`stopped ${done.removed} rule(s)`);
  refresh();
});

let typing = null;
filter.addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    const url = new URL(location.href);
    if (filter.value.trim()) url.searchParams.set('cid', filter.value.trim()); else url.searchParams.delete('cid');
    history.replaceState(null, '', url);
    refresh();
  }, 250);
});

timer = setTimeout(refresh, REFRESH_MS);
"""


def render_page(state: dict[str, Any], api: str | None, sqs_handlers: list[str]) -> str:
    options = "".join(f'<option{" selected" if h == "process_product_queue" else ""}>{esc(h)}</option>'
                      for h in sqs_handlers)
    api_link = f'<a href="{esc(api)}/products">{esc(api)}</a>' if api else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AsyncCatalog local console</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body data-refreshes="0">
<header><h1>AsyncCatalog local console</h1><span class="muted">REST API {api_link}</span>
<span id="connection" class="muted">live</span>
<a id="api-reference" href="/api-reference">API reference</a></header>
<p>
<label>Correlation id <input type="text" id="cid-filter" name="cid" value="{esc(state["filter"])}"
 placeholder="filter deliveries and SNS messages"></label>
<form id="poison-form"><label>Poison <select name="handler" id="poison-handler">{options}</select> messages matching
<input type="text" name="match" id="poison-match" placeholder="a correlation id, or text in the body" required></label>
<button type="submit" id="poison">poison</button></form>
<button type="button" id="unpoison-all">unpoison all</button>
</p>
<div id="notice" role="status"></div>
<div id="peek" hidden></div>
<main id="live">{render_live(state, api)}</main>
<script>const REFRESH_MS = {REFRESH_MS};{SCRIPT}</script>
</body></html>"""


# --- HTTP ---------------------------------------------------------------------------------

class ConsoleServer:
    """The console's HTTP server on its own threads; `stop()` closes the socket."""

    def __init__(self, data: ConsoleData, host: str = "127.0.0.1", port: int = 8001,
                 sqs_handlers: list[str] | None = None):
        self.data = data
        self.sqs_handlers = sqs_handlers or ["process_product_queue"]
        console = self

        class Handler(ConsoleRequestHandler):
            pass
        Handler.console = console
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ConsoleServer":
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="console", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ConsoleRequestHandler(BaseHTTPRequestHandler):
    console: ConsoleServer
    server_version = "AsyncCatalogConsole"

    def log_message(self, format, *args):  # noqa: A002  every refresh would print a line on the terminal
        pass

    # --- answers

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value, default=str).encode(), "application/json")

    def _html(self, text: str) -> None:
        self._send(HTTPStatus.OK, text.encode(), "text/html; charset=utf-8")

    def _params(self) -> dict[str, str]:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if (self.headers.get("Content-Type") or "").startswith("application/json"):
                query.update({k: str(v) for k, v in (json.loads(raw or "{}") or {}).items()})
            else:
                query.update({k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()})
        return query

    # --- routes

    def do_GET(self):  # noqa: N802
        self._route({"/": self._page, "/live": self._live, "/api/state": self._state, "/api/peek": self._peek,
                     "/report": self._report, "/api/faults": self._faults,
                     **dict.fromkeys(api_reference.PATHS, self._api_reference)})

    def do_POST(self):  # noqa: N802
        self._route({"/api/redrive": self._redrive, "/api/faults": self._poison, "/api/faults/clear": self._unpoison})

    def _foreign(self) -> str | None:
        """Why a request is refused: any page open in the developer's browser can send one here (a form
        that poisons a handler, or a DNS name rebound to 127.0.0.1 to read DLQ bodies); only this
        console's own pages may."""
        port = self.server.server_address[1]
        own = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if self.headers.get("Host") not in own:
            return f"Host {self.headers.get('Host')!r} is not this console"
        origin = self.headers.get("Origin")
        if self.command == "POST" and origin is not None and urlsplit(origin).netloc not in own:
            return f"a page of {origin} may not act on this console"
        return None

    def _route(self, routes: dict[str, Callable[[dict[str, str]], None]]) -> None:
        route = routes.get(urlsplit(self.path).path)
        refused = self._foreign()
        if refused:
            self._json(HTTPStatus.FORBIDDEN, {"error": refused})
            return
        try:
            if route is None:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {urlsplit(self.path).path}"})
                return
            route(self._params())
        except (LookupError, ValueError) as error:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error).strip("'\"")})
        except PermissionError as error:
            self._json(HTTPStatus.FORBIDDEN, {"error": str(error)})
        except (BrokenPipeError, ConnectionResetError):  # the browser went away mid-answer
            pass
        except Exception as error:
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(error).__name__}: {error}"})

    def _page(self, params):
        state = self.console.data.state(params.get("cid"))
        self._html(render_page(state, self.console.data.api, self.console.sqs_handlers))

    def _live(self, params):
        self._html(render_live(self.console.data.state(params.get("cid")), self.console.data.api))

    def _state(self, params):
        self._json(HTTPStatus.OK, self.console.data.state(params.get("cid")))

    def _peek(self, params):
        queue = params.get("queue") or ""
        self._json(HTTPStatus.OK, {"queue": queue, "messages": self.console.data.peek(queue)})

    def _redrive(self, params):
        self._json(HTTPStatus.OK, self.console.data.redrive(params.get("dlq") or ""))

    def _faults(self, params):
        self._json(HTTPStatus.OK, {"rules": self.console.data.faults.rules()})

    def _poison(self, params):
        handler = params.get("handler") or "process_product_queue"
        if handler not in self.console.sqs_handlers:
            raise ValueError(f"{handler} is not an SQS handler of this app ({', '.join(self.console.sqs_handlers)})")
        self.console.data.faults.poison(params.get("match") or "", handler)
        self._json(HTTPStatus.OK, {"rules": self.console.data.faults.rules()})

    def _unpoison(self, params):
        removed = self.console.data.faults.unpoison(params.get("match") or None, params.get("handler") or None)
        self._json(HTTPStatus.OK, {"removed": removed, "rules": self.console.data.faults.rules()})

    def _api_reference(self, params):
        """The API reference page, the API's own document and Swagger UI's files (local_runtime/api_reference.py)."""
        self._send(*api_reference.answer(urlsplit(self.path).path, self.console.data.api))

    def _report(self, params):
        key = params.get("key") or ""
        body, content_type = self.console.data.report(params.get("bucket") or "", key)
        # Never rendered as a page of this origin: no scripts, no subresources, even if a browser sniffed it.
        headers = {"Content-Security-Policy": "default-src 'none'; sandbox"}
        if content_type != "application/json":
            headers["Content-Disposition"] = f'attachment; filename="{download_name(key)}"'
        self._send(HTTPStatus.OK, body, content_type, headers)


def download_name(key: str) -> str:
    """The key's last segment with only safe characters: it goes inside a quoted header value."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", key.rsplit("/", 1)[-1]).strip("._")
    return name or "report"


def start_console(runner, session, environment: dict[str, str], host: str, port: int,
                  api: str | None = None) -> ConsoleServer:
    """The console of a running `make run`: the runner's history and fault switch, the app's status services."""
    from chalice.app import SQSEventConfig
    from chalicelib.bootstrap import invoice_upload_status, log_batch_status
    data = ConsoleData(session, environment, history=runner.history, faults=runner.faults,
                       log_status=log_batch_status, invoice_status=invoice_upload_status, api=api)
    handlers = [s.name for s in runner.app.event_sources if isinstance(s, SQSEventConfig)]
    return ConsoleServer(data, host, port, sqs_handlers=handlers).start()

