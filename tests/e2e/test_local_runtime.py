"""End to end over real HTTP and real boto3 calls against `python -m local_runtime`."""
import json
import signal
import subprocess

import pytest
import requests

from tests.e2e.conftest import LocalSystem, port_is_open, wait_until

pytestmark = pytest.mark.e2e


def test_banner_prints_where_everything_is_and_the_examples(local_system):
    log = local_system.log()
    assert local_system.api in log and local_system.emulator in log
    assert "curl -si -X POST" in log and "s3 cp s3://async-catalog-reports-dev/" in log


def test_a_posted_product_is_processed_and_readable(local_system):
    response = requests.post(f"{local_system.api}/products", json={"name": "Caneta azul", "price": "19.90"},
                             headers={"Idempotency-Key": "e2e-product-1"}, timeout=10)
    assert response.status_code == 202
    product_id = response.json()["id"]
    assert response.headers["Location"] == f"/products/{product_id}"

    fetched = wait_until(lambda: (r := requests.get(f"{local_system.api}/products/{product_id}", timeout=5))
                         .status_code == 200 and r, timeout=30, what="the worker to store the product")
    assert fetched.json()["price"] == "19.90"
    report = local_system.client("s3").get_object(Bucket="async-catalog-reports-dev", Key=f"{product_id}.txt")
    assert "price:       19.90" in report["Body"].read().decode()
    assert "process_product_queue: 1 record(s), 1 ok" in local_system.log()


def test_bad_input_gets_a_json_4xx_over_real_http(local_system):
    response = requests.post(f"{local_system.api}/products", data="{oops", timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"


def test_ctrl_c_stops_every_process_and_frees_the_ports():
    system = LocalSystem()
    try:
        wait_until(lambda: any(line.endswith(" ready") for line in system.output), timeout=90, what="ready")
    finally:
        system.process.send_signal(signal.SIGINT)
    assert system.process.wait(15) == 0
    assert not port_is_open(system.api_port) and not port_is_open(system.emulator_port)
    leftover = subprocess.run(["pgrep", "-f", f"-p {system.emulator_port}|--port {system.api_port}"],
                              capture_output=True, text=True).stdout
    assert leftover == "", leftover
