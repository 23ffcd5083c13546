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
    response = local_system.http.post(f"{local_system.api}/products", json={"name": "Caneta azul", "price": "19.90"},
                             headers={"Idempotency-Key": "e2e-product-1"}, timeout=10)
    assert response.status_code == 202
    product_id = response.json()["id"]
    assert response.headers["Location"] == f"/products/{product_id}"

    fetched = wait_until(lambda: (r := local_system.http.get(f"{local_system.api}/products/{product_id}", timeout=5))
                         .status_code == 200 and r, timeout=30, what="the worker to store the product")
    assert fetched.json()["price"] == "19.90"
    report = local_system.client("s3").get_object(Bucket="async-catalog-reports-dev", Key=f"{product_id}.txt")
    assert "price:       19.90" in report["Body"].read().decode()
    assert "process_product_queue: 1 record(s), 1 ok" in local_system.log()


def test_bad_input_gets_a_json_4xx_over_real_http(local_system):
    response = local_system.http.post(f"{local_system.api}/products", data="{oops", timeout=10,
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
    status = local_system.http.get(f"{local_system.api}/log-batches", params={"key": "e2e/run 1.log"}, timeout=5).json()
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
    status = json.loads(local_system.printed_shell(status_command).stdout)
    assert status["status"] == "completed" and status["report"]["content"] == content
    errors_command = next(line.strip() for line in local_system.output if "/log-batches/lines?key=" in line)
    errors = json.loads(local_system.printed_shell(errors_command).stdout)
    assert len(errors["items"]) == content["by_level"]["ERROR"] + content["by_level"].get("FATAL", 0)
    assert {item["level"] for item in errors["items"]} <= {"ERROR", "FATAL"} and errors["next"] is None


def test_an_uploaded_invoice_file_is_listed_by_the_api(local_system):
    rows = "id,cliente,valor,data_emissao\r\n" + "".join(
        f"E2E-{i},Loja E2E,\"1.000,{i:02d}\",{i + 1:02d}/11/2025\r\n" for i in range(12)) + "E2E-X,,1,00,x\r\n"
    local_system.client("s3").put_object(Bucket="notas-fiscais", Key="e2e/notas novembro.csv",
                                         Body=("\ufeff" + rows).encode())
    status = wait_until(lambda: (r := local_system.http.get(f"{local_system.api}/invoice-uploads",
                                                   params={"key": "e2e/notas novembro.csv"}, timeout=5)).status_code
                        == 200 and r.json()["status"] != "processing" and r.json(), timeout=60, what="the upload")
    assert (status["status"], status["accepted"], status["rejected"]) == ("completed", 12, 1)
    listed = local_system.http.get(f"{local_system.api}/invoices", params={"customer": "Loja E2E", "limit": 100},
                          timeout=5).json()
    assert sorted(i["number"] for i in listed["items"]) == sorted(f"E2E-{i}" for i in range(12))
    assert listed["items"][0]["amount"] == "1000.00" and listed["next"] is None


def test_the_printed_invoice_examples_work_as_printed(local_system):
    import os
    import shlex
    import sys
    from pathlib import Path

    from tests.e2e.conftest import PROJECT_DIR
    [upload] = [line.strip() for line in local_system.output if line.strip().startswith("aws --endpoint-url")
                and "notas-fiscais" in line]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_DEFAULT_REGION": "us-east-1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(shlex.split(upload), cwd=PROJECT_DIR, env=env, check=True, capture_output=True)
    status_command, list_command = [line.strip() for line in local_system.output
                                    if line.strip().startswith("curl -s '") and "invoice" in line]

    def shell(command: str) -> str:  # after the printed log-in lines: the curls send their $TOKEN
        return local_system.printed_shell(command).stdout

    def status():
        output = shell(status_command)
        body = json.loads(output) if output.startswith("{") else {}
        return body if body.get("status") == "completed" else None
    done = wait_until(status, timeout=60, what="the example invoice upload")
    assert (done["accepted"], done["rejected"], done["total_amount"]) == (4, 2, "1240489.86")
    listed = json.loads(shell(list_command))
    assert [i["number"] for i in listed["items"]] == ["NF-1001", "NF-1003"]  # Ana Costa, October, by date
    assert [i["amount"] for i in listed["items"]] == ["2100.43", "1234567.89"]


def test_an_order_is_completed_and_its_notification_reaches_a_subscribed_queue(local_system):
    sqs, sns = local_system.client("sqs"), local_system.client("sns")
    queue_url = sqs.create_queue(QueueName="e2e-order-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = sns.create_topic(Name="order-notifications")["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})

    product = local_system.http.post(f"{local_system.api}/products", json={"name": "Caderno", "price": "12.50"},
                            timeout=10).json()
    wait_until(lambda: local_system.http.get(f"{local_system.api}/products/{product['id']}", timeout=5).status_code == 200,
               timeout=30, what="the product")
    response = local_system.http.post(f"{local_system.api}/orders", timeout=10, headers={"Idempotency-Key": "e2e-order-1"},
                             json={"customerId": "c-e2e", "items": [{"productId": product["id"], "quantity": 2},
                                                                    {"productId": "pen", "quantity": 1,
                                                                     "unitPrice": "3.10"}]})
    assert response.status_code == 202 and response.json()["status"] == "RECEIVED"
    order_id = response.json()["orderId"]
    assert response.headers["Location"] == f"/orders/{order_id}"
    order = wait_until(lambda: (r := local_system.http.get(f"{local_system.api}/orders/{order_id}", timeout=5).json())
                       ["status"] == "COMPLETED" and r, timeout=30, what="the order to complete")
    assert order["total"] == "28.10"
    assert [h["status"] for h in order["history"]] == ["RECEIVED", "PROCESSING", "COMPLETED"]
    messages = wait_until(lambda: sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1,
                                                      MessageAttributeNames=["All"]).get("Messages"),
                          timeout=30, what="the notification")
    assert json.loads(messages[0]["Body"]) == {"orderId": order_id, "customerId": "c-e2e", "status": "COMPLETED",
                                               "total": "28.10"}
    listed = local_system.http.get(f"{local_system.api}/orders", params={"customerId": "c-e2e"}, timeout=5).json()
    assert [o["orderId"] for o in listed["items"]] == [order_id]


def test_anonymous_and_forged_callers_get_401_and_roles_hold_over_real_http(local_system):
    api = local_system.api
    for path in ("/orders?customerId=x", "/invoices", "/log-batches/lines?key=a.log&level=ERROR"):
        anonymous = requests.get(f"{api}{path}", timeout=5)
        assert anonymous.status_code == 401 and anonymous.json()["Code"] == "Unauthorized", path
        forged = requests.get(f"{api}{path}", headers={"Authorization": "Bearer e30.e30.c2ln"}, timeout=5)
        assert forged.status_code == 401, path
    assert requests.get(f"{api}/products", timeout=5).status_code == 200  # public, as the README says
    ana, bruno = local_system.session("ana"), local_system.session("bruno")
    assert ana.get(f"{api}/invoices", timeout=5).status_code == 403
    order = {"items": [{"productId": "pen", "quantity": 1, "unitPrice": "3.10"}]}
    mine = ana.post(f"{api}/orders", json=order, headers={"Idempotency-Key": "same-key"}, timeout=10)
    theirs = bruno.post(f"{api}/orders", json=order, headers={"Idempotency-Key": "same-key"}, timeout=10)
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["orderId"] != theirs.json()["orderId"]
    assert ana.get(f"{api}/orders/{mine.json()['orderId']}", timeout=5).status_code == 200
    assert bruno.get(f"{api}/orders/{mine.json()['orderId']}", timeout=5).status_code == 404
    assert [o["orderId"] for o in bruno.get(f"{api}/orders", timeout=5).json()["items"]] == [theirs.json()["orderId"]]


def test_the_printed_order_example_places_an_order_for_ana(local_system):
    post = next(line.strip() for line in local_system.output
                if line.strip().startswith("curl -si -X POST") and "/orders" in line)
    answer = local_system.printed_shell(post.replace("<product id from 1)>", "pen")).stdout
    assert " 202 " in answer.splitlines()[0], answer
    order_id = json.loads(answer.strip().splitlines()[-1])["orderId"]  # the body follows the headers
    listed = local_system.printed_shell(next(line.strip() for line in local_system.output
                                             if line.strip().endswith("/orders -H \"Authorization: Bearer $ANA_TOKEN\"")))
    assert order_id in [o["orderId"] for o in json.loads(listed.stdout)["items"]]
