"""`python -m local_runtime` with PRODUCT_STORE=postgres, as `make run PRODUCT_STORE=postgres` starts it:
its own PostgreSQL, migrated, shared by chalice local and the event runner; POST then GET over real HTTP;
Ctrl-C stops the database too."""
import os
import shutil
import signal
import tempfile

import pytest

from local_runtime.postgres import LocalPostgres, find_bin_dir
from tests.e2e.conftest import LocalSystem, port_is_open, wait_until
from tests.postgres import MISSING, admin_connection, free_port

pytestmark = pytest.mark.e2e


def test_make_run_with_postgres_stores_products_there_and_stops_it_on_ctrl_c(monkeypatch):
    if find_bin_dir() is None:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(MISSING)
    base_dir = tempfile.mkdtemp(prefix="catalog-run-pg-")
    db_port = free_port()
    monkeypatch.setenv("PRODUCT_STORE", "postgres")
    monkeypatch.setenv("PRODUCT_DB_PORT", str(db_port))
    monkeypatch.setenv("LOCAL_POSTGRES_DIR", base_dir)
    system = LocalSystem()
    try:
        wait_until(lambda: any(line.endswith(" ready") for line in system.output) or system.process.poll() is not None,
                   timeout=90, what="the local runtime to be ready")
        assert system.process.poll() is None, system.log()
        assert f"product store: PostgreSQL catalog on 127.0.0.1:{db_port}, schema migrated (1)" in system.log()

        response = system.http.post(f"{system.api}/products", json={"name": "Caneta azul", "price": "0.30"},
                                 timeout=10)
        assert response.status_code == 202
        product_id = response.json()["id"]
        fetched = wait_until(lambda: (r := system.http.get(f"{system.api}/products/{product_id}", timeout=5))
                             .status_code == 200 and r, timeout=30, what="the worker to store the product")
        assert fetched.json()["price"] == "0.30"
        listed = system.http.get(f"{system.api}/products", timeout=5).json()
        assert [p["id"] for p in listed["items"]] == [product_id]

        connection = admin_connection(LocalPostgres(base_dir, db_port))  # it is really in PostgreSQL
        try:
            assert connection.run("SELECT id::text, price::text FROM products") == [[product_id, "0.30"]]
        finally:
            connection.close()
    finally:
        system.process.send_signal(signal.SIGINT)
        code = system.process.wait(30)
        shutil.rmtree(base_dir, ignore_errors=True)
    assert code == 0, system.log()
    assert not port_is_open(db_port), "PostgreSQL still listens after Ctrl-C"
