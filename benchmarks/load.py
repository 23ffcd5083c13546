"""A bounded burst of POST /products against the local stack (a script, not a timed test).

    .venv/bin/python -m benchmarks.load [--requests 1000] [--connections 32]
        [--api http://127.0.0.1:8000] [--read-timeout 600] [--request-timeout 30]

Without --api it starts the whole stack itself (`python -m local_runtime` on
free loopback ports, as tests/e2e does), waits for "ready" and stops it with
SIGINT at the end. With --api it targets a stack that is already running
(`make run`); only loopback addresses are accepted either way.

What it does, every loop bounded in count and time:
1. lists the table (GET /products?limit=100, following `next`) to know what
   was there before;
2. sends --requests POST /products over --connections keep-alive
   connections (one thread and one requests.Session each), every request
   with its own Idempotency-Key and a valid body;
3. reads every product back (GET /products/{id} in rounds until 200, bounded
   by --read-timeout) and compares it with what was sent; a round reads the
   pending ids in POST order, one per connection at a time, and stops at a
   batch with nothing new, so that polling does not become the load; every
   pending id is read when nothing new turned up for 10 s;
4. lists the whole table again and counts distinct and repeated ids.

Prints the POST status histogram (and the GET one), POST latency percentiles
(each request timed on its own), products stored and readable, the time from
the first POST until the last product was readable, requests/s, and the
listing's counts. Every figure comes from what was sent and received.

Exit status 0 only if: no 5xx and no transport error anywhere, every POST got
202 with the id its key names, every product is readable with the content
sent, and the listing holds each new id exactly once (and, on a stack this
script started, nothing else). 1 otherwise, 2 for bad arguments or a stack
that would not start.
"""
import argparse
import base64
import ctypes
import ipaddress
import json
import math
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
import urllib3
from requests.adapters import HTTPAdapter

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from chalicelib.catalog.model import new_product_id  # noqa: E402  (the id a key names, as the API derives it)

READY_TIMEOUT = 120        # s for `python -m local_runtime` to print "ready"
STOP_TIMEOUT = 20          # s for it to stop after SIGINT
PAGE_SIZE = 100            # the API's maximum
SWEEP_AFTER = 10           # s without a new readable product before every pending id is read again
CONNECT_TIMEOUT = 5


def say(line: str = "") -> None:
    print(line, flush=True)


# --- the stack ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent():
    # Its own session, so a Ctrl-C here reaches this script only, which then stops the
    # stack in order; PDEATHSIG stops the stack even if this script is killed.
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class LocalStack:
    """`python -m local_runtime` on free loopback ports, its output kept in memory."""

    def __init__(self):
        self.api_port, self.emulator_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.output: list[str] = []
        self.ready = threading.Event()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(API_PORT=str(self.api_port), EMULATOR_PORT=str(self.emulator_port), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen([sys.executable, "-m", "local_runtime"], cwd=PROJECT_DIR, env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, errors="replace", preexec_fn=_die_with_parent)
        self.collector = threading.Thread(target=self._collect, daemon=True)
        self.collector.start()

    def _collect(self):
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.output.append(line)
            if line.endswith(" ready"):
                self.ready.set()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.ready.wait(0.2):
                return True
        return False

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.collector.join(5)  # the rest of its output
        return self.process.returncode

    def operator_token(self) -> str:
        """The demo operator's ID token from the stack's user pool (local_runtime/identity.py)."""
        import boto3

        from infra.provision import provision_user_pool
        from infra.resources import USER_POOL
        from infra.stage import Stage
        from local_runtime.identity import log_in
        session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                        region_name="us-east-1")
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{self.emulator_port}"
        try:
            pool = provision_user_pool(Stage.load(os.environ.get("STAGE", "dev")), session)  # finds the stack's
            return log_in(session.client("cognito-idp"), pool[USER_POOL.client_env], "operator")["IdToken"]
        finally:
            os.environ.pop("AWS_ENDPOINT_URL", None)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output[-lines:])


def loopback_api(url: str) -> str:
    """The base URL if it is plain HTTP to a loopback IP or `localhost`; ValueError otherwise (no DNS lookup)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"--api must be an http:// URL, not {url!r}")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
        loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"--api must name a loopback address (127.0.0.0/8, ::1 or localhost), not {url!r}")
    return url.rstrip("/")


# --- HTTP over N connections -------------------------------------------------------------

_connects: Counter = Counter()  # TCP connects started, by thread (each thread drives one session)
_connects_lock = threading.Lock()


class CountingConnection(urllib3.connection.HTTPConnection):
    """Counts every TCP connect, reconnects of a pooled connection object included."""

    def connect(self):
        with _connects_lock:
            _connects[threading.get_ident()] += 1
        super().connect()


class CountingPool(urllib3.HTTPConnectionPool):
    ConnectionCls = CountingConnection


def connects_here() -> int:
    with _connects_lock:
        return _connects[threading.get_ident()]


def connects_in_all() -> int:
    with _connects_lock:
        return sum(_connects.values())


def new_session(token: str | None = None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: loopback stays loopback
    if token:  # POST /products is for operators: every request carries the operator's ID token
        session.headers["Authorization"] = f"Bearer {token}"
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0, pool_block=True)
    adapter.poolmanager.pool_classes_by_scheme = {**adapter.poolmanager.pool_classes_by_scheme, "http": CountingPool}
    session.mount("http://", adapter)
    return session


def run_on_connections(sessions, jobs, work, deadline: float | None = None) -> list:
    """Run work(session, job) for every job, one thread per session; a job not started by `deadline` is skipped."""
    pending: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        pending.put(job)
    results: list = []
    stopping = threading.Event()

    def drain(session):
        while not stopping.is_set() and (deadline is None or time.perf_counter() < deadline):
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            results.append(work(session, job))

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        try:
            for future in [pool.submit(drain, session) for session in sessions]:
                future.result()
        except BaseException:  # Ctrl-C: let the threads finish the request in hand only
            stopping.set()
            raise
    return results


@dataclass
class Call:
    status: int | str   # the HTTP status, or the name of the transport error
    sent: float         # perf_counter when the request was started
    done: float         # perf_counter when the whole answer was read
    body: object = None
    headers: dict = field(default_factory=dict)
    first_on_connection: bool = False  # this request had to open a TCP connection first

    @property
    def seconds(self) -> float:
        return self.done - self.sent


def call(session, method: str, url: str, timeout: float, **kwargs) -> Call:
    opened = connects_here()
    sent = time.perf_counter()
    try:
        response = session.request(method, url, timeout=(CONNECT_TIMEOUT, timeout), allow_redirects=False, **kwargs)
        content = response.content
        done = time.perf_counter()
    except requests.RequestException as error:
        return Call(type(error).__name__, sent, time.perf_counter(), body=str(error),
                    first_on_connection=connects_here() > opened)
    try:
        body = json.loads(content)
    except ValueError:
        body = content[:200]
    return Call(response.status_code, sent, done, body, dict(response.headers),
                first_on_connection=connects_here() > opened)


# --- the products --------------------------------------------------------------------------

def product_body(run: str, index: int) -> dict:
    return {
        "name": f"Caneta nº {index} ({run})",
        "price": f"{index % 1000}.{index % 100:02d}",
        "stock": index,
        "sku": f"LOAD-{index:06d}",
        "category": f"load-{run}",
    }


def differences(sent: dict, got: dict, product_id: str) -> list[str]:
    wanted = {**sent, "id": product_id}
    return [f"{k}: sent {v!r}, got {got.get(k)!r}" for k, v in wanted.items() if got.get(k) != v]


def list_all(session, api: str, timeout: float, max_pages: int, deadline: float) -> dict:
    """Follow `next` from the first page to the last; bounded by pages and time."""
    ids: list[str] = []
    statuses: Counter = Counter()
    pages = 0
    cursor = None
    complete = False
    started = time.perf_counter()
    while pages < max_pages and time.perf_counter() < deadline:
        params = {"limit": str(PAGE_SIZE), **({"next": cursor} if cursor else {})}
        answer = call(session, "GET", f"{api}/products", timeout, params=params)
        statuses[answer.status] += 1
        if answer.status != 200 or not isinstance(answer.body, dict):
            break
        pages += 1
        ids += [item.get("id") for item in answer.body.get("items", [])]
        cursor = answer.body.get("next")
        if not cursor:
            complete = True
            break
    return {"ids": ids, "pages": pages, "complete": complete, "statuses": statuses,
            "seconds": time.perf_counter() - started}


TCP_COUNTERS = ("ListenOverflows", "ListenDrops", "TCPReqQFullDoCookies", "TCPReqQFullDrop")


def tcp_counters() -> dict[str, int]:
    """Linux's machine-wide TcpExt counters of full listen queues (empty elsewhere)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return {}
    counters = {}
    for names, values in zip(lines[::2], lines[1::2]):
        counters.update(zip(names.split()[1:], map(int, values.split()[1:])))
    return {name: counters[name] for name in TCP_COUNTERS if name in counters}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def histogram(counter: Counter) -> str:
    return ", ".join(f"{status}: {count:,}" for status, count in sorted(counter.items(), key=lambda kv: str(kv[0])))


def is_5xx(status) -> bool:
    return isinstance(status, int) and 500 <= status <= 599


# --- the run ---------------------------------------------------------------------------------

def load(api: str, args, stack: LocalStack | None) -> list[str]:
    """Run the burst and print the figures; return the reasons to fail (empty: all good)."""
    failures: list[str] = []
    run = uuid.uuid4().hex[:10]
    n = args.requests
    sessions = [new_session(args.token) for _ in range(args.connections)]
    timeout = args.request_timeout

    # 1. What the table holds before.
    before = list_all(sessions[0], api, timeout, max_pages=100_000, deadline=time.perf_counter() + args.read_timeout)
    if not before["complete"]:
        failures.append(f"the listing before the run did not finish (statuses {histogram(before['statuses'])})")
        if not any(isinstance(s, int) for s in before["statuses"]):
            say(f"no answer from {api}: {histogram(before['statuses'])}")
            return failures
    baseline = set(before["ids"])
    say(f"table before the run: {len(baseline):,} products in {before['pages']} page(s)")

    # 2. The burst.
    bodies = [product_body(run, i) for i in range(n)]
    keys = [f"load-{run}-{i:06d}" for i in range(n)]

    def post(session, index):
        payload = json.dumps(bodies[index], ensure_ascii=False).encode()
        return index, call(session, "POST", f"{api}/products", timeout, data=payload,
                           headers={"Content-Type": "application/json", "Idempotency-Key": keys[index]})

    load_before = os.getloadavg()
    tcp_before = tcp_counters()
    connects_before = connects_in_all()
    say(f"sending {n:,} POST /products over {args.connections} connections to {api} (run {run}) ...")
    posts = dict(run_on_connections(sessions, range(n), post))
    first_post = min(c.sent for c in posts.values())
    last_answer = max(c.done for c in posts.values())
    post_seconds = last_answer - first_post

    tcp_after = tcp_counters()
    post_connects = connects_in_all() - connects_before
    post_statuses = Counter(c.status for c in posts.values())
    latencies = sorted(c.seconds for c in posts.values())
    accepted: dict[str, int] = {}  # id -> index, for the 202s
    contract: list[str] = []
    for index, answer in sorted(posts.items()):
        if answer.status != 202:
            continue
        expected = new_product_id(keys[index], args.caller)
        body = answer.body if isinstance(answer.body, dict) else {}
        got = body.get("id")
        location = answer.headers.get("Location", "")
        if got != expected or body.get("status") != "PENDING" or not location.endswith(f"/products/{got}"):
            contract.append(f"#{index}: id {got!r} (key names {expected}), body {answer.body!r}, Location {location!r}")
        if got:
            accepted.setdefault(got, index)

    say()
    say(f"POST status codes: {histogram(post_statuses)}")
    say(f"POST latency (each request timed on its own, {len(latencies):,} requests): "
        f"p50 {percentile(latencies, .50) * 1000:.0f} ms, p95 {percentile(latencies, .95) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, .99) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    first_on_connection = sorted(c.seconds for c in posts.values() if c.first_on_connection)
    reused = sorted(c.seconds for c in posts.values() if not c.first_on_connection)
    if first_on_connection:
        say(f"  the {len(first_on_connection)} that opened a TCP connection: p50 "
            f"{percentile(first_on_connection, .5) * 1000:.0f} ms, max {first_on_connection[-1] * 1000:.0f} ms; "
            f"the other {len(reused):,}: " + (f"p50 {percentile(reused, .5) * 1000:.0f} ms, p99 "
                                             f"{percentile(reused, .99) * 1000:.0f} ms, max {reused[-1] * 1000:.0f} ms"
                                             if reused else "none"))
    say(f"POST phase: {post_seconds:.2f} s from the first request sent to the last answer = "
        f"{n / post_seconds:,.1f} requests/s; {post_connects:,} new TCP connect(s)")
    if tcp_before and tcp_after:
        say("  kernel TCP counters meanwhile (machine-wide: other processes count too): "
            + ", ".join(f"{k} +{tcp_after[k] - tcp_before[k]}" for k in tcp_before))
    if any(is_5xx(s) for s in post_statuses):
        failures.append(f"5xx answers to POST: {histogram(Counter(s for s in post_statuses.elements() if is_5xx(s)))}")
    others = {s: k for s, k in post_statuses.items() if s != 202}
    if others:
        failures.append(f"{sum(others.values())} POST(s) without 202: {histogram(Counter(others))}")
        examples = [f"#{i}: {c.status} after {c.seconds * 1000:.0f} ms: {c.body}"[:300]
                    for i, c in sorted(posts.items()) if c.status != 202][:10]
        say("  first POSTs without 202:\n    " + "\n    ".join(examples))
    if contract:
        failures.append(f"{len(contract)} 202 answer(s) not naming the id their Idempotency-Key names")
        say("  first of them:\n    " + "\n    ".join(contract[:5]))
    if len(accepted) != sum(1 for c in posts.values() if c.status == 202):
        failures.append(f"{post_statuses[202] - len(accepted)} 202 answer(s) repeated an id given to another key")

    # 3. Read each one back: the 202s by the id they returned, the others by the id their key names
    # (a failed POST may still have queued its product).
    wanted: dict[str, int] = dict(accepted)
    for index, answer in posts.items():
        if answer.status != 202:
            wanted.setdefault(new_product_id(keys[index], args.caller), index)
    readable: dict[str, Call] = {}
    get_statuses: Counter = Counter()
    get_latencies: list[float] = []
    mismatches: list[str] = []
    rounds = 0
    read_started = time.perf_counter()
    deadline = read_started + args.read_timeout
    max_rounds = int(args.read_timeout / args.poll_interval) + 1
    accepted_readable_at = None
    sweeps = 0

    def get(session, product_id):
        return product_id, call(session, "GET", f"{api}/products/{product_id}", timeout)

    # Polling must not become the load: a round reads the pending ids in the order they were posted (the
    # queue's order, roughly), a batch of one per connection at a time, and stops at a batch with nothing
    # new. Every id is read again when nothing new turned up for SWEEP_AFTER seconds (at most that often).
    last_news = last_sweep = time.perf_counter()
    while len(readable) < len(wanted) and rounds < max_rounds and time.perf_counter() < deadline:
        rounds += 1
        round_started = time.perf_counter()
        pending = [i for i in wanted if i not in readable]  # POST order, the POSTs without 202 last
        sweep = round_started - max(last_news, last_sweep) >= SWEEP_AFTER
        if sweep:
            sweeps += 1
            last_sweep = round_started
        answers = []
        step = len(pending) if sweep else len(sessions)
        for start in range(0, len(pending), step):
            batch = run_on_connections(sessions, pending[start:start + step], get, deadline=deadline)
            answers += batch
            if not any(answer.status == 200 for _, answer in batch):
                break
        if any(answer.status == 200 for _, answer in answers):
            last_news = time.perf_counter()
        for product_id, answer in answers:
            get_statuses[answer.status] += 1
            get_latencies.append(answer.seconds)
            if answer.status == 200:
                readable[product_id] = answer
                problems = differences(bodies[wanted[product_id]], answer.body if isinstance(answer.body, dict)
                                       else {}, product_id)
                if problems:
                    mismatches.append(f"{product_id} (#{wanted[product_id]}): " + "; ".join(problems))
        if stack and not stack.alive():
            failures.append(f"the stack exited ({stack.process.returncode}) while products were being read")
            break
        if answers and not any(isinstance(a.status, int) for _, a in answers):
            errors = Counter(a.status for _, a in answers)
            failures.append(f"a whole round of GETs got no HTTP answer ({histogram(errors)})")
            break
        if accepted_readable_at is None and all(i in readable for i in accepted):
            accepted_readable_at = time.perf_counter()
        if accepted_readable_at is not None and time.perf_counter() - accepted_readable_at >= args.grace:
            break  # what is left got no 202: its product may well never exist
        if len(readable) < len(wanted):
            time.sleep(max(0.0, args.poll_interval - (time.perf_counter() - round_started)))

    say()
    stored = sum(1 for i in readable if i in accepted)
    stray = [i for i in readable if i not in accepted]
    say(f"stored and readable: {len(readable):,} of the {n:,} products sent ({stored:,} of the {len(accepted):,} "
        f"accepted with 202, {len(stray)} of the {len(wanted) - len(accepted)} without), "
        f"after {rounds} round(s) of GET /products/{{id}} ({sweeps} of them over every pending id)")
    unanswered = [i for i in wanted if i not in accepted and i not in readable]
    if unanswered:
        say(f"  {len(unanswered)} product(s) whose POST got no 202 are not stored (the id their key names, polled "
            f"{args.grace:g} s after the last accepted one was readable): "
            + ", ".join(f"{i} (#{wanted[i]})" for i in unanswered[:50]))
    get_latencies.sort()
    say(f"GET /products/{{id}} status codes: {histogram(get_statuses)} "
        f"(p50 {percentile(get_latencies, .5) * 1000:.0f} ms, max {get_latencies[-1] * 1000:.0f} ms)"
        if get_latencies else "GET /products/{id}: none sent")
    unexpected_gets = Counter({s: k for s, k in get_statuses.items() if s not in (200, 404)})
    if unexpected_gets:
        say(f"  GETs other than 200/404: {histogram(unexpected_gets)}")
        failures.append(f"GET /products/{{id}} answered {histogram(unexpected_gets)}")
    missing = sorted(i for i in accepted if i not in readable)
    if len(readable) < n:
        failures.append(f"{n - len(readable)} of {n} products not stored and readable")
    if missing:
        say(f"  accepted but NOT readable within {args.read_timeout:g} s ({len(missing)}): "
            + ", ".join(f"{i} (#{accepted[i]})" for i in missing[:50])
            + (" ..." if len(missing) > 50 else ""))
    if mismatches:
        failures.append(f"{len(mismatches)} product(s) read back differ from what was sent")
        say("  differ from what was sent:\n    " + "\n    ".join(mismatches[:10]))
    if readable:
        last_readable = max(c.done for c in readable.values())
        say(f"first POST → last product readable: {last_readable - first_post:.2f} s "
            f"(observed by polling every ≥ {args.poll_interval:g} s; reads began "
            f"{read_started - first_post:.2f} s after the first POST) = "
            f"{len(readable) / (last_readable - first_post):,.1f} products stored/s end to end")

    # 4. Duplicates: the whole table, page by page.
    max_pages = math.ceil((len(baseline) + n) / PAGE_SIZE) * 4 + 20  # a cursor that loops cannot run forever
    after = list_all(sessions[0], api, timeout, max_pages, deadline=time.perf_counter() + args.read_timeout)
    listed = Counter(after["ids"])
    repeated = {i: k for i, k in listed.items() if k > 1}
    ours = set(wanted)  # every id this run's keys name
    listed_ours = ours & set(listed)
    extra = set(listed) - ours - baseline
    say()
    say(f"GET /products?limit={PAGE_SIZE} through the table: {after['pages']} page(s), {len(after['ids']):,} items, "
        f"{len(listed):,} distinct ids, {sum(k - 1 for k in repeated.values())} repeat(s); "
        f"{len(listed_ours):,} of this run's {len(ours):,} ids, {len(baseline & set(listed)):,} from before, "
        f"{len(extra):,} other(s) ({after['seconds']:.2f} s; statuses {histogram(after['statuses'])})")
    if any(is_5xx(s) for s in after["statuses"]) or any(is_5xx(s) for s in before["statuses"]):
        failures.append("5xx answer to GET /products")
    if not after["complete"]:
        failures.append(f"the listing did not reach its last page within {max_pages} pages / {args.read_timeout:.0f} s")
    if repeated:
        failures.append(f"{len(repeated)} id(s) listed more than once")
        say("  repeated: " + ", ".join(f"{i} ×{k}" for i, k in list(repeated.items())[:20]))
    if len(listed_ours) != n:
        failures.append(f"the listing holds {len(listed_ours):,} of this run's ids, not {n:,}")
        absent = sorted(ours - set(listed))
        if absent:
            say("  not listed: " + ", ".join(absent[:50]) + (" ..." if len(absent) > 50 else ""))
    if extra:
        say("  listed but neither sent by this run nor there before: " + ", ".join(sorted(extra)[:20]))
        if stack:  # nobody else writes to a stack this script started
            failures.append(f"{len(extra)} unexpected id(s) in the listing")

    total_requests = n + sum(get_statuses.values()) + sum(after["statuses"].values())
    total_seconds = time.perf_counter() - first_post
    say()
    say(f"all HTTP requests: {total_requests:,} in {total_seconds:.1f} s since the first POST "
        f"({total_requests / total_seconds:,.1f}/s overall); POSTs alone {n / post_seconds:,.1f}/s")
    say(f"load average (1/5/15 min) {', '.join(f'{x:.2f}' for x in load_before)} before the burst, "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; {os.cpu_count()} CPU(s)")
    for session in sessions:
        session.close()
    return failures


def worker_deliveries(output: list[str]) -> str:
    """The product worker's deliveries and stores, as the stack logged them."""
    text = "\n".join(output)  # two threads' lines can share one line of the pipe: search the whole text
    deliveries = re.findall(r"-> process_product_queue: (\d+) record\(s\), (\d+) ok, (\d+) failed", text)
    records, ok, failed = (sum(int(d[i]) for d in deliveries) for i in range(3))
    stored = Counter(re.findall(r'"message":"product stored".*?"duplicate":(true|false)', text))
    tracebacks = text.count("Traceback (most recent call last)")
    return (f"product worker (from the stack's output): {len(deliveries):,} batches, {records:,} records delivered, "
            f"{ok:,} ok, {failed:,} failed; \"product stored\" logged {stored['false']:,} times new, "
            f"{stored['true']:,} as duplicate; {tracebacks} traceback(s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="POST /products to send (default 1000)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--api", help="an already running API (loopback only), e.g. http://127.0.0.1:8000; "
                                      "without it the stack is started and stopped here")
    parser.add_argument("--read-timeout", type=float, default=600,
                        help="seconds to wait for every product to be readable (default 600)")
    parser.add_argument("--request-timeout", type=float, default=30, help="seconds per HTTP answer (default 30)")
    parser.add_argument("--token", default=os.environ.get("TOKEN"),
                        help="an operator's ID token for --api (default $TOKEN); a stack started here logs in "
                             "as its demo operator")
    parser.add_argument("--poll-interval", type=float, default=1.0,
                        help="least seconds between rounds of GET /products/{id} (default 1)")
    parser.add_argument("--grace", type=float, default=10,
                        help="seconds to keep polling for products whose POST got no 202, once every accepted "
                             "one is readable (default 10)")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 1_000_000:
        parser.error("--requests must be 1 to 1,000,000")
    if not 1 <= args.connections <= 512:
        parser.error("--connections must be 1 to 512")
    if args.read_timeout <= 0 or args.request_timeout <= 0 or args.poll_interval <= 0 or args.grace < 0:
        parser.error("timeouts and the poll interval must be positive")
    args.connections = min(args.connections, args.requests)
    # Ctrl-C or a TERM stops the run and then the stack, in order (even where the shell started us with
    # SIGINT ignored, as it does for background jobs).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    stack = None
    try:
        if args.api:
            try:
                api = loopback_api(args.api)
            except ValueError as error:
                parser.error(str(error))
        else:
            started = time.perf_counter()
            stack = LocalStack()
            say(f"starting the local stack (python -m local_runtime, API on {stack.api}) ...")
            if not stack.wait_ready():
                say(f"the stack did not become ready within {READY_TIMEOUT} s:\n{stack.tail()}")
                return 2
            say(f"stack ready in {time.perf_counter() - started:.1f} s")
            api = stack.api
            args.token = stack.operator_token()
        # The id a key names is the caller's (chalicelib/idempotency.py): the token's sub, read without checking.
        args.caller = json.loads(base64.urlsafe_b64decode(args.token.split(".")[1] + "==")).get("sub", "") \
            if args.token else ""
        failures = load(api, args, stack)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if stack:
            code = stack.stop()
            say(f"stack stopped (exit code {code})")
    if stack:
        say(worker_deliveries(stack.output))
        if failures:
            say("last lines of the stack's output (the API's log is build/local/api.log):\n" + stack.tail(30))
    say()
    if failures:
        say("FAILED:\n  " + "\n  ".join(failures))
        return 1
    say("OK: no 5xx, every product stored, readable and listed exactly once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
