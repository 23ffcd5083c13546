"""No personal data where the app writes for itself (issue 19): after orders with e-mail contacts and invoices with
CPFs and CNPJs go through `python -m local_runtime`, none of them is in the handlers' log lines (build/local/
handlers.log: the event handlers, run by the runner in the runtime's process), the API's (build/local/api.log:
`chalice local`'s process, the routes' lines), the metric (EMF) lines among them, any S3 key, or the report the
upload wrote. The stores themselves hold them, as docs/personal-data.md says; what is checked is everything else.

Both logs are shared by every run from this project directory and appended to, so only what this test's run
appended is read, and its values are made up for it (an e-mail with a random tag, CPFs with random digits).
"""
import json
import random
import uuid

import pytest

from tests.auth import claims_of
from tests.e2e.conftest import PROJECT_DIR, wait_until

pytestmark = pytest.mark.e2e

LOGS = {name: PROJECT_DIR / "build" / "local" / name for name in ("handlers.log", "api.log")}
CPF_WEIGHTS = (tuple(range(10, 1, -1)), tuple(range(11, 1, -1)))
CNPJ_WEIGHTS = ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))


def with_check_digits(body: list[int], weights) -> str:
    for w in weights:
        remainder = sum(v * x for v, x in zip(body, w)) % 11
        body = body + [0 if remainder < 2 else 11 - remainder]
    return "".join(map(str, body))


def made_up_documents(rng: random.Random) -> tuple[str, str, str]:
    """A valid CPF, a valid CNPJ and a CPF whose check digits are wrong (a typo is personal data too)."""
    cpf = with_check_digits([rng.randrange(10) for _ in range(9)], CPF_WEIGHTS)
    cnpj = with_check_digits([rng.randrange(10) for _ in range(12)], CNPJ_WEIGHTS)
    wrong = cpf[:9] + str((int(cpf[9]) + 1) % 10) + cpf[10]
    return cpf, cnpj, wrong


def spellings(document: str) -> list[str]:
    """How a document could appear: bare and punctuated (a masked one, `***.982.247-**`, is neither)."""
    if len(document) == 11:
        return [document, f"{document[:3]}.{document[3:6]}.{document[6:9]}-{document[9:]}"]
    return [document, f"{document[:2]}.{document[2:5]}.{document[5:8]}/{document[8:12]}-{document[12:]}"]


def appended_since(offsets: dict) -> dict[str, str]:
    texts = {}
    for name, path in LOGS.items():
        with open(path, "rb") as log:
            log.seek(offsets[name])
            texts[name] = log.read().decode("utf-8", errors="replace")
    return texts


def test_no_cpf_cnpj_or_contact_in_the_handlers_logs_metrics_s3_keys_or_reports(local_system):
    api, operator = local_system.api, local_system.http
    offsets = {name: path.stat().st_size if path.exists() else 0 for name, path in LOGS.items()}
    tag = uuid.uuid4().hex[:10]
    rng = random.Random(tag)
    emails = [f"ana.{tag}@example.com", f"bruno.{tag}@example.org"]
    refused_contact = f"not-a-contact-{tag}@nowhere"  # refused with a 400: its error names the field, not it
    cpf, cnpj, wrong_cpf = made_up_documents(rng)
    customer_name = f"Cliente Privado {tag}"

    # A subscriber, to know the notifications went out (and that the contact reached them, in the body).
    sqs, sns = local_system.client("sqs"), local_system.client("sns")
    inbox = sqs.create_queue(QueueName=f"e2e-privacy-{tag}")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=sns.create_topic(Name="order-notifications")["TopicArn"], Protocol="sqs",
                  Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})

    # Orders: Ana's own, and one an operator places for Bruno; a contact that is refused.
    ana, items = local_system.session("ana"), [{"productId": "pen", "quantity": 1, "unitPrice": "3.10"}]
    mine = ana.post(f"{api}/orders", json={"items": items, "notify": emails[0]}, timeout=10)
    assert mine.status_code == 202, mine.text
    bruno_sub = claims_of(local_system.token("bruno"))["sub"]
    theirs = operator.post(f"{api}/orders", json={"customerId": bruno_sub, "items": items, "notify": emails[1]},
                           timeout=10)
    assert theirs.status_code == 202, theirs.text
    refused = ana.post(f"{api}/orders", json={"items": items, "notify": refused_contact}, timeout=10)
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "notify"
    order_ids = [mine.json()["orderId"], theirs.json()["orderId"]]

    def delivered():
        found = sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
        delivered.messages += [json.loads(m["Body"]) for m in found]
        return {m["orderId"] for m in delivered.messages} >= set(order_ids)
    delivered.messages = []
    wait_until(delivered, timeout=60, what="both orders' notifications")
    assert {m["contact"] for m in delivered.messages if m["orderId"] in order_ids} == set(emails)
    # The contact was kept for the notification only: the write recording it (just after the publish) removes it.
    wait_until(lambda: "notify" not in ana.get(f"{api}/orders/{order_ids[0]}", timeout=5).json(), timeout=30,
               what="the notified order's contact removed")
    assert emails[0] not in ana.get(f"{api}/orders", timeout=5).text  # a listing never shows a contact

    # Invoices: a CPF and a CNPJ accepted, a row with a wrong CPF and one with a bad amount rejected.
    key = f"e2e/privacy-{tag}.csv"
    rows = ("numero,cliente,cpf,valor,data_emissao\r\n"
            f"P-{tag}-1,{customer_name},{spellings(cpf)[1]},\"1.234,56\",15/10/2025\r\n"
            f"P-{tag}-2,{customer_name},{spellings(cnpj)[1]},99.90,2025-10-16\r\n"
            f"P-{tag}-3,{customer_name},{wrong_cpf},10.00,2025-10-17\r\n"
            f"P-{tag}-4,{customer_name},{cpf},dez reais,2025-10-18\r\n")
    local_system.client("s3").put_object(Bucket="notas-fiscais", Key=key, Body=rows.encode())
    status = wait_until(lambda: (r := operator.get(f"{api}/invoice-uploads", params={"key": key}, timeout=5))
                        .status_code == 200 and r.json()["status"] != "processing" and r.json(),
                        timeout=60, what="the invoice upload")
    assert (status["status"], status["accepted"], status["rejected"]) == ("completed", 2, 2), status
    listed = operator.get(f"{api}/invoices", params={"limit": 100}, timeout=5)
    assert listed.status_code == 200 and cpf not in listed.text  # masked in listings
    one = operator.get(f"{api}/invoices/P-{tag}-1", timeout=5).json()
    assert one["customer_document"] == cpf  # in full, to an operator, in the answer only

    # Ana's personal data erased: its answer goes to the operator; the audit line names no one.
    erased = operator.delete(f"{api}/customers/{claims_of(local_system.token('ana'))['sub']}/personal-data",
                             timeout=10)
    # Both orders were notified (their contacts gone already): what it looked in, and found nothing left.
    assert erased.status_code == 200 and [(r["store"], r["count"]) for r in erased.json()["removed"]] == [
        ("OrdersTable", 0), ("OrderContactsTable", 0)], erased.text

    secrets = [*emails, refused_contact, customer_name,
               *(s for document in (cpf, cnpj, wrong_cpf) for s in spellings(document))]

    def leaks(text: str) -> list[str]:
        return [s for s in secrets if s.lower() in text.lower()]

    # The runtime's threads write as they go: wait for the lines this run must have written.
    def logs_caught_up():
        texts = appended_since(offsets)
        return all(order_id in texts["handlers.log"] for order_id in order_ids) \
            and "personal data erased" in texts["api.log"] and texts
    texts = wait_until(logs_caught_up, timeout=30, what="this run's log lines")
    metrics = [line for text in texts.values() for line in text.splitlines() if line.startswith('{"_aws"')]
    assert any("OrdersNotified" in line for line in metrics) and any("Invoice" in line for line in metrics)
    assert {name: leaks(text) for name, text in texts.items()} == {name: [] for name in texts}
    assert leaks("\n".join(metrics)) == []

    s3 = local_system.client("s3")
    keys = [obj["Key"] for bucket in s3.list_buckets()["Buckets"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
            for obj in page.get("Contents", [])]
    assert any(tag in k for k in keys)  # the upload, and its report, are among them
    assert leaks("\n".join(keys)) == []
    report = s3.get_object(Bucket=status["report"]["bucket"], Key=status["report"]["key"])["Body"].read().decode()
    assert json.loads(report) and tag in report  # this upload's report (it names its source key)
    assert leaks(report) == [], report[:2000]
