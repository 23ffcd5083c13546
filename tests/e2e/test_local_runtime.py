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


def test_an_uploaded_log_file_is_reported_with_the_right_counts(local_system):
    from tests.logfiles import generated_lines
    lines = generated_lines(120)
    body = "\n".join(lines[:60]) + "\n\n" + "\n".join(lines[60:]) + "\n"
    local_system.client("s3").put_object(Bucket="input-logs", Key="e2e/run 1.log", Body=body.encode())

    s3 = local_system.client("s3")

    def report():
        try:
            obj = s3.get_object(Bucket="processed-data", Key="e2e/relatorio_run 1.log.json")
        except s3.exceptions.NoSuchKey:
            return None
        return json.loads(obj["Body"].read())
    content = wait_until(report, timeout=60, what="the log report")
    assert (content["total_items"], content["processed_items"], content["blank_lines"]) == (120, 120, 1)
    assert content["unparsed_items"] == sum(line == "free text that no parser knows" for line in lines)
    status = requests.get(f"{local_system.api}/log-batches", params={"key": "e2e/run 1.log"}, timeout=5).json()
    assert status["status"] == "completed" and status["report"]["content"] == content


def test_the_printed_aws_cli_examples_work_as_printed(local_system):
    import os
    import shlex
    import sys
    from pathlib import Path

    from tests.e2e.conftest import PROJECT_DIR
    commands = [line.strip() for line in local_system.output if line.strip().startswith("aws --endpoint-url")]
    upload, read = [c for c in commands if "input-logs" in c or "processed-data" in c]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_DEFAULT_REGION": "us-east-1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(shlex.split(upload), cwd=PROJECT_DIR, env=env, check=True, capture_output=True)
    printed = wait_until(lambda: (r := subprocess.run(shlex.split(read), cwd=PROJECT_DIR, env=env,
                                                      capture_output=True, text=True)).returncode == 0 and r.stdout,
                         timeout=60, what="the sample's report")
    content = json.loads(printed)
    assert (content["processed_items"], content["blank_lines"], content["unparsed_items"]) == (26, 1, 1)
    status_command = next(line.strip() for line in local_system.output if "/log-batches?key=" in line)
    status = json.loads(subprocess.run(shlex.split(status_command), capture_output=True, text=True).stdout)
    assert status["status"] == "completed" and status["report"]["content"] == content
