"""migrate_product_db as CloudFormation runs it: it migrates, answers SUCCESS or FAILED, and always answers in time.

The custom resource's answer is a PUT to the request's ResponseURL; here that
URL is a small local HTTP server that keeps what it receives. The database is
the tests' PostgreSQL server (a fresh database in it, so there is something to
apply), an address where nothing listens, or a socket that accepts and never
answers.
"""
import http.server
import json
import socket
import threading
import time
import uuid

import pytest

from chalicelib.db import connection
from chalicelib.db.deploy_migration import ANSWER_MARGIN_SECONDS, PHYSICAL_ID, on_deploy
from chalicelib.db.migrate import MIGRATIONS
from tests.postgres import admin_connection, free_port


class Context:
    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.log_stream_name = "2026/11/23/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


@pytest.fixture
def cloudformation():
    """Where answers go: a list of (headers, body) the handler PUT."""
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/response?X-Amz-Signature=x", received
    finally:
        server.shutdown()
        server.server_close()


def request(url: str, kind: str = "Create") -> dict:
    return {"RequestType": kind, "ResponseURL": url, "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1",
            "RequestId": str(uuid.uuid4()), "LogicalResourceId": "ProductDbMigration",
            "ResourceType": "Custom::ProductDbMigration", "ResourceProperties": {"SchemaVersion": "1"}}


@pytest.fixture
def fresh_database(postgres_server, monkeypatch):
    """An empty database on the test server, the app pointed at it."""
    name = f"deploy_{uuid.uuid4().hex[:8]}"
    admin = admin_connection(postgres_server)
    admin.run(f"CREATE DATABASE {name}")
    for key, value in postgres_server.environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PRODUCT_DB_NAME", name)
    connection.reset()
    try:
        yield name
    finally:
        connection.reset()
        admin.run(f"DROP DATABASE {name}")
        admin.close()


def test_create_applies_the_schema_and_answers_success(fresh_database, cloudformation):
    url, received = cloudformation
    event = request(url)
    on_deploy(event, Context(60))
    [(headers, answer)] = received
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert (answer["PhysicalResourceId"], answer["RequestId"], answer["StackId"], answer["LogicalResourceId"]) == (
        PHYSICAL_ID, event["RequestId"], event["StackId"], "ProductDbMigration")
    assert answer["Data"] == {"Applied": ",".join(str(v) for v, _, _ in MIGRATIONS),
                              "SchemaVersion": str(MIGRATIONS[-1][0])}
    assert headers["Content-Type"] == ""  # what the pre-signed URL was signed for
    # An update (same schema) applies nothing and still succeeds; the table is there.
    on_deploy(request(url, "Update"), Context(60))
    assert received[1][1]["Status"] == "SUCCESS" and received[1][1]["Data"]["Applied"] == ""
    assert connection.database().run("SELECT count(*) FROM products") == [[0]]


def test_delete_answers_success_without_touching_the_database(cloudformation, monkeypatch):
    url, received = cloudformation
    monkeypatch.setenv("PRODUCT_DB_HOST", "127.0.0.1")
    monkeypatch.setenv("PRODUCT_DB_PORT", str(free_port()))  # nothing listens: a connection would fail
    connection.reset()
    on_deploy(request(url, "Delete"), Context(60))
    [(_, answer)] = received
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == PHYSICAL_ID


def test_a_database_that_refuses_fails_the_deploy_before_lambdas_deadline(cloudformation, monkeypatch):
    url, received = cloudformation
    monkeypatch.setenv("PRODUCT_DB_HOST", "127.0.0.1")
    monkeypatch.setenv("PRODUCT_DB_PORT", str(free_port()))
    monkeypatch.setenv("PRODUCT_DB_USER", "catalog")
    monkeypatch.setenv("PRODUCT_DB_SSL", "disable")
    connection.reset()
    started = time.monotonic()
    on_deploy(request(url), Context(ANSWER_MARGIN_SECONDS + 2))
    [(_, answer)] = received
    assert answer["Status"] == "FAILED"
    assert "InterfaceError" in answer["Reason"] and "log stream 2026/11/23/[$LATEST]abc" in answer["Reason"]
    assert time.monotonic() - started < 5


def test_a_database_that_never_answers_still_gets_cloudformation_an_answer_in_time(cloudformation, monkeypatch):
    url, received = cloudformation
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never speaks
    try:
        monkeypatch.setenv("PRODUCT_DB_HOST", "127.0.0.1")
        monkeypatch.setenv("PRODUCT_DB_PORT", str(silent.getsockname()[1]))
        monkeypatch.setenv("PRODUCT_DB_USER", "catalog")
        monkeypatch.setenv("PRODUCT_DB_SSL", "disable")
        monkeypatch.setenv("PRODUCT_DB_CONNECT_TIMEOUT_SECONDS", "60")
        connection.reset()
        started = time.monotonic()
        on_deploy(request(url), Context(ANSWER_MARGIN_SECONDS + 1.5))
        elapsed = time.monotonic() - started
    finally:
        silent.close()
        connection.reset()
    [(_, answer)] = received
    assert answer["Status"] == "FAILED" and "timed out" in answer["Reason"]
    assert 1.0 < elapsed < 4  # at the deadline, not when the connection gives up


def test_invoked_by_hand_it_migrates_and_says_what_it_applied(fresh_database):
    assert on_deploy({}, Context(60)) == {"applied": [v for v, _, _ in MIGRATIONS], "latest": MIGRATIONS[-1][0]}
    assert on_deploy({}, Context(60)) == {"applied": [], "latest": MIGRATIONS[-1][0]}
