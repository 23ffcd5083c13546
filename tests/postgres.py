"""The tests' PostgreSQL: one throwaway server per test session, and a clean products table per test.

Starting a server (initdb included) takes a few seconds, so it happens once;
each test then gets an empty table and fresh connections. Without the server
binaries the PostgreSQL tests skip locally; under CI (CI=true) they fail,
because CI is meant to install them and a silent skip would hide the store.
"""
import os
import shutil
import socket
import tempfile

import pytest

from local_runtime.postgres import LocalPostgres, find_bin_dir

MISSING = "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def session_server():
    """Generator for a session fixture: a started, migrated server; stopped and deleted afterwards."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    base_dir = tempfile.mkdtemp(prefix="catalog-pg-")
    server = LocalPostgres(base_dir, free_port(), bin_dir=bin_dir, durable=False)
    try:
        server.start()
        from chalicelib.db.connection import Database
        saved = dict(os.environ)
        os.environ.update(server.environment)
        try:
            from chalicelib.db.migrate import migrate
            db = Database()
            migrate(db)
            db.close()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        yield server
    finally:
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


def _reset_app_caches():
    from chalicelib.catalog.service import catalog
    from chalicelib.db import connection
    connection.reset()
    catalog.cache_clear()


def use_postgres(server: LocalPostgres, monkeypatch):
    """Generator for a function fixture: PRODUCT_STORE=postgres pointed at `server`, an empty table."""
    for name, value in server.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PRODUCT_DB_STATEMENT_TIMEOUT_MS", "5000")
    _reset_app_caches()
    from chalicelib.db.connection import database
    db = database()
    db.run("TRUNCATE products")
    try:
        yield db
    finally:
        _reset_app_caches()


def admin_connection(server: LocalPostgres):
    """A connection of the test's own, outside the app's, to look at or disturb the database."""
    import pg8000.native
    env = server.environment
    return pg8000.native.Connection(env["PRODUCT_DB_USER"], host=env["PRODUCT_DB_HOST"],
                                    port=int(env["PRODUCT_DB_PORT"]), database=env["PRODUCT_DB_NAME"],
                                    password=env["PRODUCT_DB_PASSWORD"])
