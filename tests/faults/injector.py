"""Inject AWS faults into the app's boto3 clients where botocore's own retries see them.

A fault is injected in botocore's `before-send` event: the last moment before
a request goes on the wire, and the moment at which moto's in-process backend
answers it. So what the client gets is what a real fault would give it, and
botocore's standard retry mode (chalicelib/aws.py: 5 attempts, backoff, a
retry quota per client) handles it as it handles real ones before the app
sees anything:

- `throttle`: a 400/503 answer with the service's throttling code
  (ProvisionedThroughputExceededException, ThrottlingException, SlowDown,
  RequestThrottled, Throttling);
- `server_error`: a 500 InternalError / InternalServerError or a 503
  ServiceUnavailable;
- `read_timeout`: ReadTimeoutError;
- `connection_reset`: ConnectionClosedError, or EndpointConnectionError.

Each fault strikes in one of two phases:

- `before`: the service never sees the attempt;
- `after`: the attempt is applied by the service and its answer is lost (a
  read timeout or a reset connection: "a timeout on a write that
  succeeded"). botocore then sends it again, so a conditional write meets
  its own effect and an unconditional one is applied twice.

Random faults strike a fraction `rate` of attempts. Whether the n-th attempt
of an operation is struck, and how, is decided from a hash of (seed,
service, operation, n): a run is reproducible however threads interleave
different operations. Rules (`fail`, `persistent`, `exhaust`) strike chosen
calls, optionally matched on their parameters, on every attempt (so retries
are exhausted and the app gets the error: a persistent fault) or on the
first few. Everything injected is counted by kind, phase and operation, and
every call's outcome is recorded, so a test can say what it survived.
"""
import io
import json
import random
import threading
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.hooks import first_non_none_response

BEFORE, AFTER = "before", "after"
THROTTLE, SERVER_ERROR, READ_TIMEOUT, CONNECTION_RESET = "throttle", "server_error", "read_timeout", "connection_reset"
KINDS = (THROTTLE, SERVER_ERROR, READ_TIMEOUT, CONNECTION_RESET)
LOST_ANSWERS = (READ_TIMEOUT, CONNECTION_RESET)  # the kinds that can strike after the service applied the call
SERVICES = ("sqs", "dynamodb", "s3", "sns", "sts")  # every client chalicelib.aws hands out

# A request answered here is pointed at no host, so that no handler after ours (moto's) applies it.
NOWHERE = "https://fault-injector.invalid/"
_CONTEXT_KEY = "fault_injector"

# (status, code) of each service's real answers; every code is one botocore's standard retry mode retries.
_THROTTLES = {
    "dynamodb": [(400, "ProvisionedThroughputExceededException"), (400, "ThrottlingException")],
    "s3": [(503, "SlowDown")],
    "sqs": [(400, "RequestThrottled")],
}
_SERVER_ERRORS = {
    "dynamodb": [(500, "InternalServerError"), (503, "ServiceUnavailable")],
    "s3": [(500, "InternalError"), (503, "ServiceUnavailable")],
}
_DEFAULT_THROTTLES = [(400, "Throttling")]
_DEFAULT_SERVER_ERRORS = [(500, "InternalFailure"), (503, "ServiceUnavailable")]
_RESETS = {BEFORE: (ConnectionClosedError, EndpointConnectionError), AFTER: (ConnectionClosedError,)}


@dataclass(frozen=True)
class Fault:
    kind: str
    phase: str
    status: int | None = None  # an error answer...
    code: str | None = None
    exception: type | None = None  # ...or an exception instead of any answer

    def describe(self) -> str:
        return f"{self.kind} {self.phase}: " + (self.code if self.code else self.exception.__name__)


def fault_of(kind: str, phase: str, service: str, rng: random.Random) -> Fault:
    if phase == AFTER and kind not in LOST_ANSWERS:
        raise ValueError(f"a {kind} is an answer: only {', '.join(LOST_ANSWERS)} can strike after the call applied")
    if kind == THROTTLE:
        return Fault(kind, phase, *rng.choice(_THROTTLES.get(service, _DEFAULT_THROTTLES)))
    if kind == SERVER_ERROR:
        return Fault(kind, phase, *rng.choice(_SERVER_ERRORS.get(service, _DEFAULT_SERVER_ERRORS)))
    if kind == READ_TIMEOUT:
        return Fault(kind, phase, exception=ReadTimeoutError)
    if kind == CONNECTION_RESET:
        return Fault(kind, phase, exception=rng.choice(_RESETS[phase]))
    raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(KINDS)})")


@dataclass
class Rule:
    """Chosen calls that fail: `calls` of them (None: every one until lifted), each on its first
    `attempts` attempts (None: on every attempt, which exhausts botocore's retries)."""
    service: str
    operation: str | None
    where: Callable[[dict], bool] | None
    kind: str
    phase: str
    calls: int | None
    attempts: int | None
    struck: dict[str, int] = field(default_factory=dict)  # invocation id -> attempts failed
    lifted: bool = False

    def lift(self) -> None:
        self.lifted = True

    @property
    def hits(self) -> int:
        """Calls struck so far."""
        return len(self.struck)

    def strikes(self, service: str, operation: str, params: dict, invocation: str) -> bool:
        if self.lifted or service != self.service or self.operation not in (None, operation):
            return False
        if invocation in self.struck:
            return self.attempts is None or self.struck[invocation] < self.attempts
        if self.calls is not None and len(self.struck) >= self.calls:
            return False
        if self.where is not None and not self.where(params):
            return False
        self.struck[invocation] = 0
        return True


@dataclass(frozen=True)
class Call:
    """One API call as the app made it, once botocore was done retrying."""
    service: str
    operation: str
    params: dict
    attempts: int
    outcome: str  # "ok", the error code, or the exception's class name

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class _Body(io.BytesIO):
    def stream(self, **_) -> Iterator[bytes]:
        data = self.read()
        if data:
            yield data


class FaultInjector:
    def __init__(self, rate: float = 0.0, seed: int = 0, kinds: Iterable[str] = KINDS, after_apply: float = 0.25,
                 where: Callable[[str, str, dict], bool] | None = None):
        """`rate`: fraction of attempts struck; `after_apply`: the share of the timeouts and resets among them
        that strike after the service applied the call; `where(service, operation, params)`: which calls
        random faults may strike (default: all)."""
        self.rate = rate
        self.seed = seed
        self.kinds = tuple(kinds)
        self.after_apply = after_apply
        self.where = where
        self.rules: list[Rule] = []
        self.injected: Counter = Counter()  # (kind, phase, service, operation) -> faults
        self.attempts: Counter = Counter()  # (service, operation) -> attempts botocore made
        self.applied_then_lost: Counter = Counter()  # (service, operation) -> after-phase attempts the service applied
        self.calls: list[Call] = []
        self._ordinals: Counter = Counter()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._attached: list[tuple[Any, list[tuple[str, Callable]]]] = []

    # --- wiring ------------------------------------------------------------------

    def attach(self, client) -> "FaultInjector":
        """Inject into one boto3 client (its own event emitter: other clients are untouched)."""
        send = lambda request, event_name, **kwargs: self._before_send(client, request, event_name)  # noqa: E731
        handlers = [("before-parameter-build.*.*", self._remember_call), ("before-send.*.*", send),
                    ("after-call.*.*", self._after_call), ("after-call-error.*.*", self._after_call_error)]
        for event, handler in handlers:
            # register_first, and on events as specific as the emitter allows, so that these run
            # before moto's `before-send` handler (more specific events are emitted to first).
            client.meta.events.register_first(event, handler)
        self._attached.append((client, handlers))
        return self

    def attach_app_clients(self, services: Iterable[str] = SERVICES) -> "FaultInjector":
        """Inject into the clients chalicelib.aws hands the app (they are cached, one per service)."""
        from chalicelib import aws
        for service in services:
            self.attach(aws.client(service))
        return self

    def detach(self) -> None:
        for client, handlers in self._attached:
            for event, handler in handlers:
                client.meta.events.unregister(event, handler)
        self._attached = []

    # --- what to inject ----------------------------------------------------------

    def fail(self, service: str, operation: str | None = None, *, kind: str = SERVER_ERROR, phase: str = BEFORE,
             calls: int | None = 1, attempts: int | None = None, where: Callable[[dict], bool] | None = None) -> Rule:
        """Fail chosen calls: `calls` of them (None: all until lifted), on their first `attempts` attempts
        (None: every attempt, so the app gets the error once botocore gives up).

        Rules are tried in the order they were made, and a call is struck by one rule at most.
        """
        fault_of(kind, phase, service, random.Random(0))  # an impossible fault is refused now, not when it strikes
        rule = Rule(service, operation, where, kind, phase, calls, attempts)
        with self._lock:
            self.rules.append(rule)
        return rule

    def persistent(self, service: str, operation: str, *, kind: str = SERVER_ERROR,
                   where: Callable[[dict], bool] | None = None) -> Rule:
        """Every matching call fails on every attempt until the rule is lifted: an outage."""
        return self.fail(service, operation, kind=kind, calls=None, attempts=None, where=where)

    def exhaust(self, service: str, operation: str, calls: int = 1, *, kind: str = SERVER_ERROR,
                where: Callable[[dict], bool] | None = None) -> Rule:
        """The next `calls` matching calls fail on every attempt: botocore's retries run out."""
        return self.fail(service, operation, kind=kind, calls=calls, attempts=None, where=where)

    def lose_answer(self, service: str, operation: str, calls: int = 1, *, kind: str = READ_TIMEOUT,
                    where: Callable[[dict], bool] | None = None) -> Rule:
        """The next `calls` matching calls are applied and their first answer lost; botocore retries them."""
        return self.fail(service, operation, kind=kind, phase=AFTER, calls=calls, attempts=1, where=where)

    # --- what happened -----------------------------------------------------------

    def by_kind(self) -> Counter:
        """Faults injected per `kind phase` (e.g. "read_timeout after")."""
        found: Counter = Counter()
        for (kind, phase, _, _), n in self.injected.items():
            found[f"{kind} {phase}"] += n
        return found

    def by_operation(self) -> Counter:
        found: Counter = Counter()
        for (_, _, service, operation), n in self.injected.items():
            found[f"{service}.{operation}"] += n
        return found

    def total(self) -> int:
        return sum(self.injected.values())

    def succeeded(self, service: str, operation: str, **params) -> list[Call]:
        """The calls of an operation that succeeded (after retries), whose parameters include `params`."""
        return [c for c in self.calls if c.ok and (c.service, c.operation) == (service, operation)
                and all(c.params.get(k) == v for k, v in params.items())]

    def failed_calls(self) -> list[Call]:
        """Calls the app saw fail (botocore gave up, or the service refused them)."""
        return [c for c in self.calls if not c.ok]

    def retried_calls(self) -> int:
        return sum(c.attempts > 1 for c in self.calls)

    def summary(self) -> dict[str, Any]:
        attempts = sum(self.attempts.values())
        return {"attempts": attempts, "injected": self.total(),
                "rate": round(self.total() / attempts, 4) if attempts else 0.0,
                "by_rules": sum(sum(rule.struck.values()) for rule in self.rules),
                "by_kind": dict(sorted(self.by_kind().items())),
                "by_operation": dict(self.by_operation().most_common()),
                "applied_then_lost": sum(self.applied_then_lost.values()),
                "calls": len(self.calls), "retried_calls": self.retried_calls(),
                "calls_failed": dict(Counter(f"{c.service}.{c.operation}: {c.outcome}"
                                             for c in self.failed_calls()).most_common())}

    # --- botocore handlers -------------------------------------------------------

    def _remember_call(self, params, model, context, **_) -> None:
        context[_CONTEXT_KEY] = (model.service_model.service_id.hyphenize(), model.name, params)

    def _decide(self, service: str, operation: str, params: dict, invocation: str) -> Fault | None:
        with self._lock:
            self.attempts[(service, operation)] += 1
            ordinal = self._ordinals[(service, operation)]
            self._ordinals[(service, operation)] += 1
            rng = random.Random(f"{self.seed}/{service}/{operation}/{ordinal}")
            fault = None
            # A call struck by a rule belongs to it: its later attempts are that rule's alone.
            owner = next((rule for rule in self.rules if invocation in rule.struck), None)
            for rule in [owner] if owner else self.rules:
                if rule.strikes(service, operation, params, invocation):
                    rule.struck[invocation] += 1
                    fault = fault_of(rule.kind, rule.phase, service, rng)
                    break
            if fault is None and self.rate and rng.random() < self.rate \
                    and (self.where is None or self.where(service, operation, params)):
                kind = rng.choice(self.kinds)
                phase = AFTER if kind in LOST_ANSWERS and rng.random() < self.after_apply else BEFORE
                fault = fault_of(kind, phase, service, rng)
            if fault is not None:
                self.injected[(fault.kind, fault.phase, service, operation)] += 1
            return fault

    def _before_send(self, client, request, event_name: str) -> AWSResponse | None:
        if getattr(self._local, "forwarding", False):
            return None  # our own forwarding of an after-phase attempt
        context = request.context or {}
        _, service, operation = event_name.split(".", 2)
        _, _, params = context.get(_CONTEXT_KEY, (service, operation, {}))
        invocation = context.get("retries", {}).get("invocation-id") or str(id(request))
        fault = self._decide(service, operation, params, invocation)
        if fault is None:
            return None
        if fault.phase == AFTER:
            response = self._forward(client, event_name, request)
            if response.status_code < 300:
                with self._lock:
                    self.applied_then_lost[(service, operation)] += 1
            raise fault.exception(endpoint_url=request.url)
        if fault.exception is not None:
            raise fault.exception(endpoint_url=request.url, error="injected")
        # botocore calls every before-send handler, and uses the first answer: without this,
        # moto (after us) would still apply the call we answered with an error.
        url, request.url = request.url, NOWHERE
        return error_response(client.meta.service_model, service, fault, url)

    def _forward(self, client, event_name: str, request) -> AWSResponse:
        """Send an attempt for real: to whatever answers in-process (moto), or over HTTP."""
        self._local.forwarding = True
        try:
            response = first_non_none_response(client.meta.events.emit(event_name, request=request))
            if response is None:
                response = client._endpoint._send(request)
        finally:
            self._local.forwarding = False
        try:
            response.content  # read (and so release) the answer nobody will see
        except Exception:
            pass
        return response

    def _record(self, context: dict, outcome: str) -> None:
        service, operation, params = context.get(_CONTEXT_KEY, ("?", "?", {}))
        attempts = context.get("retries", {}).get("attempt", 1)
        with self._lock:
            self.calls.append(Call(service, operation, params, attempts, outcome))

    def _after_call(self, http_response, parsed, context, **_) -> None:
        ok = http_response is not None and http_response.status_code < 300
        self._record(context, "ok" if ok else (parsed or {}).get("Error", {}).get("Code") or "error")

    def _after_call_error(self, exception, context, **_) -> None:
        self._record(context, type(exception).__name__)


def error_response(service_model, service: str, fault: Fault, url: str) -> AWSResponse:
    """The answer a service gives for `fault`, in the service's own protocol, so botocore parses its code."""
    protocol = getattr(service_model, "resolved_protocol", None) or service_model.protocol
    request_id = str(uuid.uuid4())
    message = f"{fault.code} (injected)"
    side = "Sender" if fault.status < 500 else "Receiver"
    if protocol == "json":
        prefix = service_model.metadata.get("targetPrefix") or service
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id,
                   "x-amzn-query-error": f"{fault.code};{side}"}  # what SQS (query-compatible JSON) sends as well
        body = json.dumps({"__type": f"{prefix}#{fault.code}", "message": message})
    elif protocol == "rest-json":
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id, "x-amzn-ErrorType": fault.code}
        body = json.dumps({"message": message})
    elif protocol == "rest-xml":
        headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{fault.code}</Code>'
                f"<Message>{message}</Message><RequestId>{request_id}</RequestId></Error>")
    else:  # query, ec2
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
        body = (f"<ErrorResponse><Error><Type>{side}</Type><Code>{fault.code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return AWSResponse(url, fault.status, headers, _Body(body.encode("utf-8")))


@contextmanager
def fast_retries(scale: float = 0.0) -> Iterator[None]:
    """Scale botocore's backoff between attempts (0: none), so injected faults cost a test no sleeping.

    What is retried, how often and against which quota is unchanged; only the waits are.
    """
    from botocore.retries import standard
    original = standard.ExponentialBackoff.delay_amount
    standard.ExponentialBackoff.delay_amount = lambda self, context: original(self, context) * scale
    try:
        yield
    finally:
        standard.ExponentialBackoff.delay_amount = original
