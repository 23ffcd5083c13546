"""Deliver SQS, S3 and SNS events to the app's handlers, as Lambda would, against any SQS endpoint.

`chalice local` serves only HTTP routes (aws/chalice#899). This runner reads
the app's own registered event sources (`app.event_sources`) and, for each:

- SQS (`on_sqs_message`): long-polls the queue, builds the Lambda SQS event,
  calls the handler with up to `batch_size` records and deletes exactly the
  records that succeeded. A returned `batchItemFailures` keeps those records;
  an exception keeps them all (ReportBatchItemFailures semantics). Kept
  records reappear after the queue's visibility timeout and reach its DLQ
  through the redrive policy, as on AWS.
- S3 (`on_s3_event`): points the bucket's notifications (with the source's
  prefix/suffix filter) at an internal queue, drops `s3:TestEvent`, and calls
  the handler once per S3 record. A failing event is retried
  `s3_attempts` times in all, then left in the internal dead-letter queue and
  reported, never dropped silently (Lambda's asynchronous retries).
- SNS: every topic gets an internal subscribed queue; each message is logged
  (so a local user sees notifications), kept in a short list for the console
  and passed to `on_sns_message` handlers of that topic.
- Schedules (`@app.schedule`): the handler is called with a scheduled event
  at its rate (a cron expression: every minute), or every
  `schedule_seconds` when that is set (LOCAL_SCHEDULE_SECONDS under
  `make run`), so a sweep can be watched without waiting minutes.

Every delivery is reported on one line with its correlation ids (the
`correlation_id` message attribute, SNS attribute or S3 object metadata
`correlation-id`; "-" when there is none) and kept in a bounded history that
the local console (local_runtime/console.py) shows and filters. Two dev-only
knobs exist that Lambda does not have: a fault switch (local_runtime/faults.py)
that fails chosen SQS records before the handler sees them, and
`retry_seconds`, which brings failed SQS records back after that many seconds
instead of the queue's visibility timeout, so that a poison message reaches
its DLQ in seconds rather than minutes.
"""
import json
import logging
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import unquote_plus

from botocore.config import Config
from chalice.app import Rate, S3EventConfig, ScheduledEventConfig, SNSEventConfig, SQSEventConfig
from chalice.local import LambdaContext

from local_runtime.faults import FaultSwitch

log = logging.getLogger("local_runtime")
# A handler's traceback belongs with the handlers' own logs (build/local/handlers.log or the text rendering),
# not between the runner's one-line reports; local_runtime/output.py routes this logger there.
handler_errors = logging.getLogger("local_runtime.handler_errors")
# The handler this thread is running, if any: the text rendering of its log lines names it (local_runtime/output.py).
invocation = threading.local()
INTERNAL_PREFIX = "local-runtime"
CORRELATION_ATTRIBUTE = "correlation_id"  # SQS and SNS message attribute
CORRELATION_METADATA = "correlation-id"  # S3 object metadata (x-amz-meta-correlation-id)
HISTORY_SIZE = 500
NOTIFICATIONS_KEPT = 100
SHOWN_IDS = 3  # correlation ids printed on a delivery's line; the console shows them all


@dataclass
class Delivery:
    kind: str
    source: str
    handler: str
    records: int
    failed: int
    outcome: str
    ms: float
    correlation_ids: tuple[str, ...] = ()
    at: float = field(default_factory=time.time)

    def line(self) -> str:
        return (f"{self.kind:<4} {self.source} -> {self.handler}: {self.records} record(s), "
                f"{self.records - self.failed} ok, {self.failed} failed, {self.outcome} ({self.ms:.0f} ms) "
                f"correlation_id={shown_ids(self.correlation_ids)}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "correlation_ids": list(self.correlation_ids), "ok": self.records - self.failed}


def shown_ids(ids: Iterable[str]) -> str:
    ids = list(ids)
    if not ids:
        return "-"
    more = f" (+{len(ids) - SHOWN_IDS} more)" if len(ids) > SHOWN_IDS else ""
    return ",".join(ids[:SHOWN_IDS]) + more


def unique(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def record_correlation_id(record: dict[str, Any]) -> str | None:
    """The correlation id of a Lambda-shaped SQS record, if its sender set one."""
    return (record.get("messageAttributes", {}).get(CORRELATION_ATTRIBUTE) or {}).get("stringValue")


def notification_correlation_id(notification: dict[str, Any]) -> str | None:
    """The correlation id of an SNS notification (as an SQS subscriber receives it, not raw)."""
    return (notification.get("MessageAttributes", {}).get(CORRELATION_ATTRIBUTE) or {}).get("Value")


def matches(correlation_ids: Iterable[str], wanted: str | None) -> bool:
    """The console's filter: part of a correlation id is enough (a log run id starts with its upload key)."""
    wanted = (wanted or "").strip()
    return not wanted or any(wanted in cid for cid in correlation_ids)


class History:
    """The last deliveries and SNS notifications, newest last, for the console (bounded: `make run` runs for days)."""

    def __init__(self, size: int = HISTORY_SIZE, notifications: int = NOTIFICATIONS_KEPT):
        self._lock = threading.Lock()
        self._deliveries: deque[Delivery] = deque(maxlen=size)
        self._notifications: deque[dict[str, Any]] = deque(maxlen=notifications)

    def add(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def add_notification(self, notification: dict[str, Any]) -> None:
        with self._lock:
            self._notifications.append(notification)

    def deliveries(self, correlation_id: str | None = None, limit: int | None = None) -> list[Delivery]:
        """Newest first, those whose correlation ids match `correlation_id` (all when it is empty)."""
        with self._lock:
            chosen = [d for d in reversed(self._deliveries) if matches(d.correlation_ids, correlation_id)]
        return chosen[:limit] if limit else chosen

    def notifications(self, correlation_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            chosen = [n for n in reversed(self._notifications)
                      if matches([n["correlation_id"]] if n["correlation_id"] else [], correlation_id)]
        return chosen[:limit] if limit else chosen


def lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
               "stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        for name, value in (attributes or {}).items()
    }


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to a function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": lambda_message_attributes(message.get("MessageAttributes")),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


RATE_SECONDS = {Rate.MINUTES: 60, Rate.HOURS: 3600, Rate.DAYS: 86400}


def schedule_interval(source: ScheduledEventConfig, override: float | None = None) -> float:
    if override:
        return override
    expression = source.schedule_expression
    if isinstance(expression, Rate):
        return expression.value * RATE_SECONDS[expression.unit]
    return 60.0  # a cron expression (or its string form): checked every minute is what matters locally


def scheduled_event(region: str) -> dict[str, Any]:
    """What EventBridge hands a scheduled function."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": region, "resources": [], "detail": {}}


def failed_message_ids(result: Any, message_ids: list[str]) -> set[str]:
    """The records to keep, from a handler's return value (Lambda's rules for ReportBatchItemFailures)."""
    if not isinstance(result, dict) or "batchItemFailures" not in result:
        return set()
    failures = result["batchItemFailures"] or []
    ids = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            return set(message_ids)  # a malformed response fails the whole batch
        ids.add(identifier)
    return ids


class EventRunner:
    def __init__(self, app, session, *, timeouts: dict[str, int] | None = None, memory: dict[str, int] | None = None,
                 concurrency: int = 4, pollers_per_source: int | None = None, wait_seconds: int = 1,
                 s3_attempts: int = 3, s3_retry_delay: int = 2, schedule_seconds: float | None = None,
                 report: Callable[[str], None] | None = None, failure_queue: str | None = None,
                 retry_seconds: int | None = None, faults: FaultSwitch | None = None):
        self.app = app
        self.session = session
        self.region = session.region_name or "us-east-1"
        self.sqs = session.client("sqs")
        self.s3 = session.client("s3")
        self.timeouts = timeouts or {}
        self.memory = memory or {}
        self.slots = threading.BoundedSemaphore(concurrency)
        # As many pollers per source as handlers may run at once, as Lambda scales its pollers.
        self.pollers_per_source = pollers_per_source or concurrency
        self.wait_seconds = wait_seconds
        self.s3_attempts = s3_attempts
        self.s3_retry_delay = s3_retry_delay
        # Lambda's on-failure destination for the S3-invoked functions: given-up events are sent there as
        # invocation records, as on AWS, so the app's own handler records them.
        self.failure_queue = failure_queue
        self.schedule_seconds = schedule_seconds
        self.report = report or log.info
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.loops: list[Callable[[], Any]] = []
        self.single_receive: set[str] = set()  # queues with a visibility timeout of 0
        self.schedules: list[ScheduledEventConfig] = []
        self.history = History()
        self.faults = faults or FaultSwitch()
        # None: a failed SQS record comes back after its queue's visibility timeout, as on AWS.
        self.retry_seconds = retry_seconds

    # --- setup -----------------------------------------------------------------

    def _queue_arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def _internal_queue(self, name: str, visibility: int, max_receives: int | None = None) -> tuple[str, str]:
        attributes = {"VisibilityTimeout": str(visibility)}
        if max_receives:
            dlq_url = self.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": self._queue_arn(dlq_url),
                                                      "maxReceiveCount": str(max_receives)})
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        return url, self._queue_arn(url)

    def setup(self, topics: list[str] = ()) -> "EventRunner":
        """Wire every event source of the app (and the given topic ARNs) to a delivery loop."""
        s3_by_bucket: dict[str, list[tuple[S3EventConfig, str]]] = {}
        sns_handlers: dict[str, list[SNSEventConfig]] = {}
        for source in self.app.event_sources:
            if isinstance(source, SQSEventConfig):
                url = self.sqs.get_queue_url(QueueName=source.queue)["QueueUrl"] if source.queue else \
                    self.sqs.get_queue_url(QueueName=source.queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
                visibility = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
                if visibility["Attributes"].get("VisibilityTimeout") == "0":
                    # Its messages come straight back to the next receive: a batch is one receive (tests set 0).
                    self.single_receive.add(url)
                self.loops += [self._sqs_loop(source, url, self._queue_arn(url))] * self.pollers_per_source
            elif isinstance(source, S3EventConfig):
                visibility = self.timeouts.get(source.name, 60) + 5
                url, arn = self._internal_queue(f"{INTERNAL_PREFIX}-s3-{source.name}", visibility, self.s3_attempts)
                s3_by_bucket.setdefault(source.bucket, []).append((source, arn))
                self.loops += [self._s3_loop(source, url)] * self.pollers_per_source
            elif isinstance(source, SNSEventConfig):
                sns_handlers.setdefault(source.topic, []).append(source)
            elif isinstance(source, ScheduledEventConfig):
                self.schedules.append(source)
            else:
                log.warning("event source %s (%s) is not delivered locally", source.name, type(source).__name__)
        for bucket, sources in s3_by_bucket.items():
            self._notify_queues(bucket, sources)
        sns = self.session.client("sns")
        for topic_arn in set(topics) | {self._topic_arn(t) for t in sns_handlers}:
            topic_name = topic_arn.rsplit(":", 1)[-1]
            url, arn = self._internal_queue(f"{INTERNAL_PREFIX}-sns-{topic_name}", 30)
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
            handlers = sns_handlers.get(topic_name, []) + sns_handlers.get(topic_arn, [])
            self.loops.append(self._sns_loop(topic_name, url, handlers))
        # Every poller long-polls on these clients at once. With botocore's default pool of 10 connections,
        # the connections of all but 10 were discarded whenever the polls returned together (at every stop:
        # urllib3's "Connection pool is full" warnings); one connection per thread keeps them all.
        pool = Config(max_pool_connections=len(self.loops) + len(self.schedules) + 10)
        self.sqs, self.s3 = self.session.client("sqs", config=pool), self.session.client("s3", config=pool)
        return self

    def _topic_arn(self, topic: str) -> str:
        if topic.startswith("arn:"):
            return topic
        return self.session.client("sns").create_topic(Name=topic)["TopicArn"]  # idempotent: finds it

    def _notify_queues(self, bucket: str, sources: list[tuple[S3EventConfig, str]]) -> None:
        s3 = self.session.client("s3")
        configurations = []
        for source, queue_arn in sources:
            rules = [{"Name": "prefix", "Value": source.prefix}] if source.prefix else []
            rules += [{"Name": "suffix", "Value": source.suffix}] if source.suffix else []
            configuration = {"Id": f"{INTERNAL_PREFIX}-{source.name}", "QueueArn": queue_arn,
                             "Events": source.events}
            if rules:
                configuration["Filter"] = {"Key": {"FilterRules": rules}}
            configurations.append(configuration)
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configurations})

    # --- delivery --------------------------------------------------------------

    @contextmanager
    def _invoking(self, function: str) -> Iterator[None]:
        """Hold one of the concurrency slots while `function` runs in this thread, and say which it is."""
        with self.slots:
            invocation.handler = function
            try:
                yield
            finally:
                invocation.handler = None

    def _context(self, function: str) -> LambdaContext:
        return LambdaContext(function, self.memory.get(function, 128),
                             max_runtime_ms=self.timeouts.get(function, 60) * 1000)

    def _receive(self, url: str, count: int, wait: int) -> list[dict]:
        """Up to `count` messages; several receives only while each comes back full (batches over 10)."""
        messages: list[dict] = []
        if url in self.single_receive:
            count = min(count, 10)
        while len(messages) < count:
            wanted = min(10, count - len(messages))
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=wanted, WaitTimeSeconds=wait if not messages else 0,
                AttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages += batch
            if len(batch) < wanted:
                break
        return messages

    def _delete(self, url: str, messages: list[dict]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            response = self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)])
            for failure in response.get("Failed", []):
                log.error("could not delete a delivered message from %s: %s", url, failure)

    def deliver_sqs(self, source: SQSEventConfig, url: str, queue_arn: str, wait: int | None = None) -> Delivery | None:
        """Receive one batch from the source's queue and hand it to its handler."""
        messages = self._receive(url, source.batch_size, self.wait_seconds if wait is None else wait)
        if not messages:
            return None
        records = [sqs_record(m, queue_arn, self.region) for m in messages]
        # The fault switch fails its records as the handler would (batchItemFailures); the handler sees the rest.
        poisoned = {r["messageId"] for r in records if self.faults.matches(source.name, r)}
        handed = [r for r in records if r["messageId"] not in poisoned]
        ids = [r["messageId"] for r in handed]
        started = time.perf_counter()
        try:
            result = None
            if handed:
                with self._invoking(source.name):
                    result = self.app.handler_map[source.name]({"Records": handed}, self._context(source.name))
            failed = failed_message_ids(result, ids) | poisoned
            outcome = "partial failure" if failed else "ok"
        except Exception as error:  # the whole batch stays on the queue
            handler_errors.exception("handler %s raised", source.name, extra={
                "correlation_id": ",".join(unique(record_correlation_id(r) for r in handed)) or None})
            failed, outcome = set(ids) | poisoned, f"raised {type(error).__name__}: {error}"
        if poisoned:
            outcome += f", {len(poisoned)} poisoned (fault switch)"
        self._delete(url, [m for m in messages if m["MessageId"] not in failed])
        self._retry_soon(url, [m for m in messages if m["MessageId"] in failed])
        return self._done(Delivery("sqs", source.queue or source.queue_arn, source.name, len(messages),
                                   len(failed), outcome, (time.perf_counter() - started) * 1000,
                                   unique(record_correlation_id(r) for r in records)))

    def _retry_soon(self, url: str, messages: list[dict]) -> None:
        if self.retry_seconds is None or not messages:
            return
        for start in range(0, len(messages), 10):
            self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_seconds}
                for i, m in enumerate(messages[start:start + 10])])

    def deliver_s3(self, source: S3EventConfig, url: str, wait: int | None = None) -> list[Delivery]:
        """Receive S3 notifications from the source's internal queue and call its handler once per record."""
        deliveries = []
        for message in self._receive(url, 10, self.wait_seconds if wait is None else wait):
            body = json.loads(message["Body"])
            if body.get("Event") == "s3:TestEvent":
                self._delete(url, [message])
                self.report(f"s3   dropped s3:TestEvent for bucket {body.get('Bucket')}")
                continue
            attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            message_failed = False
            for record in body.get("Records", []):
                delivery = self._invoke_s3(source, record, attempt)
                message_failed |= bool(delivery.failed)
                deliveries.append(delivery)
            if not message_failed:
                self._delete(url, [message])
                continue
            if attempt >= self.s3_attempts:
                self.report(f"s3   GAVE UP after {attempt} attempts; the event is kept in "
                            f"{INTERNAL_PREFIX}-s3-{source.name}-dlq: {message['Body'][:300]}")
                self._send_to_failure_destination(source, body, attempt, next(d for d in reversed(deliveries) if d.failed))
            # Lambda retries a failed asynchronous event after a delay, not at once.
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                               VisibilityTimeout=self.s3_retry_delay)
        return deliveries

    def _send_to_failure_destination(self, source: S3EventConfig, event: dict, attempt: int,
                                     last: Delivery) -> None:
        """What Lambda sends an on-failure destination (an invocation record), once retries are exhausted."""
        if not self.failure_queue:
            return
        error_type, _, error_message = last.outcome.removeprefix("raised ").partition(": ")
        record = {
            "version": "1.0", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {"requestId": str(uuid.uuid4()), "condition": "RetriesExhausted",
                               "functionArn": f"arn:aws:lambda:{self.region}:000000000000:function:{source.name}",
                               "approximateInvokeCount": attempt},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": error_type, "errorMessage": error_message.rsplit(" (attempt", 1)[0]},
        }
        url = self.sqs.get_queue_url(QueueName=self.failure_queue)["QueueUrl"]
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
        self.report(f"s3   sent the given-up event to {self.failure_queue} (the on-failure destination)")

    def _object_correlation_id(self, bucket: str, key: str) -> str | None:
        """The uploader's correlation id, from the object's metadata (an S3 event does not carry it)."""
        try:
            return self.s3.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get(CORRELATION_METADATA)
        except Exception:  # gone already, or no access: the delivery is shown without one
            return None

    def _invoke_s3(self, source: S3EventConfig, record: dict, attempt: int) -> Delivery:
        key = unquote_plus(record["s3"]["object"]["key"])
        correlation_id = self._object_correlation_id(source.bucket, key)
        started = time.perf_counter()
        try:
            with self._invoking(source.name):
                self.app.handler_map[source.name]({"Records": [record]}, self._context(source.name))
            failed, outcome = 0, "ok"
        except Exception as error:
            handler_errors.exception("handler %s raised for s3://%s/%s", source.name, source.bucket, key,
                                     extra={"correlation_id": correlation_id})
            failed, outcome = 1, f"raised {type(error).__name__}: {error} (attempt {attempt}/{self.s3_attempts})"
        return self._done(Delivery("s3", f"s3://{source.bucket}/{key}", source.name, 1, failed, outcome,
                                   (time.perf_counter() - started) * 1000, unique([correlation_id])))

    def deliver_sns(self, topic: str, url: str, handlers: list[SNSEventConfig], wait: int | None = None) -> int:
        messages = self._receive(url, 10, self.wait_seconds if wait is None else wait)
        done = []
        for message in messages:
            notification = json.loads(message["Body"])
            correlation_id = notification_correlation_id(notification)
            attributes = {name: value.get("Value") for name, value in notification.get("MessageAttributes", {}).items()}
            self.history.add_notification({
                "at": time.time(), "topic": topic, "subject": notification.get("Subject"),
                "message": notification.get("Message"), "message_id": notification.get("MessageId"),
                "attributes": attributes, "correlation_id": correlation_id})
            self.report(f"sns  {topic}: {notification.get('Subject') or ''} {notification.get('Message')} "
                        f"correlation_id={correlation_id or '-'}")
            try:
                for source in handlers:
                    event = {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                                          "EventSubscriptionArn": f"{notification.get('TopicArn')}:{uuid.uuid4()}",
                                          "Sns": notification}]}
                    started = time.perf_counter()
                    with self._invoking(source.name):
                        self.app.handler_map[source.name](event, self._context(source.name))
                    self._done(Delivery("sns", topic, source.name, 1, 0, "ok", (time.perf_counter() - started) * 1000,
                                        unique([correlation_id])))
                done.append(message)
            except Exception as error:
                handler_errors.exception("SNS handler for %s raised; the message will be redelivered", topic,
                                         extra={"correlation_id": correlation_id})
                self._done(Delivery("sns", topic, ",".join(h.name for h in handlers), 1, 1,
                                    f"raised {type(error).__name__}: {error}", 0, unique([correlation_id])))
        self._delete(url, done)
        return len(messages)

    def deliver_schedule(self, source: ScheduledEventConfig) -> Delivery:
        """Call a scheduled handler once, as EventBridge would at its time."""
        started = time.perf_counter()
        try:
            with self._invoking(source.name):
                result = self.app.handler_map[source.name](scheduled_event(self.region), self._context(source.name))
            failed, outcome = 0, f"ok {json.dumps(result, default=str)}" if result else "ok"
        except Exception as error:  # EventBridge retries; the next tick runs anyway
            handler_errors.exception("scheduled handler %s raised", source.name)
            failed, outcome = 1, f"raised {type(error).__name__}: {error}"
        return self._done(Delivery("cron", str(schedule_interval(source, self.schedule_seconds)) + " s",
                                   source.name, 1, failed, outcome, (time.perf_counter() - started) * 1000))

    def _schedule_loop(self, source: ScheduledEventConfig) -> None:
        interval = schedule_interval(source, self.schedule_seconds)
        while not self.stopping.wait(interval):
            self.deliver_schedule(source)

    def _done(self, delivery: Delivery) -> Delivery:
        self.history.add(delivery)
        self.report(delivery.line())
        return delivery

    # --- loops -----------------------------------------------------------------

    def _sqs_loop(self, source, url, arn):
        return lambda: self.deliver_sqs(source, url, arn)

    def _s3_loop(self, source, url):
        return lambda: self.deliver_s3(source, url)

    def _sns_loop(self, topic, url, handlers):
        return lambda: self.deliver_sns(topic, url, handlers)

    def _run(self, step: Callable[[], Any]) -> None:
        while not self.stopping.is_set():
            try:
                step()
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("delivery loop failed; retrying in 1 s")
                self.stopping.wait(1)

    def drain(self, max_rounds: int = 100_000) -> int:
        """Deliver in this thread until a whole round finds nothing (tests and benchmarks). Returns rounds."""
        for rounds in range(1, max_rounds + 1):
            if not any([step() for step in self.loops]):
                return rounds
        raise RuntimeError(f"still delivering after {max_rounds} rounds")

    def start(self) -> "EventRunner":
        for step in self.loops:
            thread = threading.Thread(target=self._run, args=(step,), daemon=True)
            thread.start()
            self.threads.append(thread)
        for source in self.schedules:  # not in drain(): a test calls deliver_schedule when it wants a tick
            thread = threading.Thread(target=self._schedule_loop, args=(source,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self, timeout: float = 5) -> None:
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
