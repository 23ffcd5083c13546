"""The local console in a real browser: headless Chromium (Debian's package) driven by Playwright.

One `python -m local_runtime` for this module, with LOCAL_RETRY_SECONDS=1 so that a poisoned message
reaches its DLQ in seconds instead of 5 x the queue's visibility timeout. `make test` installs Chromium
when it is missing (`make chromium`); Playwright never downloads a browser of its own here.
"""
import json
import os
import re
import shutil
import signal
import uuid
from pathlib import Path

import pytest
import requests

from infra.resources import RESOURCES
from tests.e2e.conftest import PROJECT_DIR, LocalSystem, running, wait_until

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = PROJECT_DIR / "build" / "console.png"
# The README's picture is refreshed only on request, so a test run leaves the work tree clean.
README_SCREENSHOT = PROJECT_DIR / "docs" / "console.png" if os.environ.get("UPDATE_SCREENSHOT") else None
WAIT_MS = 30_000  # the longest any step may take on a loaded 2-core machine


@pytest.fixture(scope="module")
def console_system():
    with running(LocalSystem(LOCAL_RETRY_SECONDS="1")) as system:
        yield system


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Chromium is not installed: `make chromium` installs Debian's package"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def product_message(product_id: str, name: str) -> str:
    return json.dumps({"id": product_id, "created_at": "2026-11-23T10:00:00Z", "name": name, "price": "2.50"})


def test_the_console_follows_a_log_upload_and_redrives_a_poisoned_product(console_system, browser):
    from playwright.sync_api import expect
    system = console_system
    sqs, s3 = system.client("sqs"), system.client("s3")
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.goto(system.console)
    expect(page.locator("#queues tr[data-queue='product-queue']")).to_be_visible()

    # A log upload: its row's progress bar goes to 100 %.
    from tests.logfiles import generated_lines
    s3.put_object(Bucket="input-logs", Key="console/app.log", Body="\n".join(generated_lines(200)).encode())
    batch = page.locator("#log-batches tr[data-key='console/app.log']")
    expect(batch).to_have_attribute("data-progress", "100", timeout=WAIT_MS)
    expect(batch).to_have_attribute("data-status", "completed", timeout=WAIT_MS)
    expect(batch.locator("progress")).to_have_attribute("value", "100")
    expect(batch.locator(".numbers")).to_contain_text("200 / 200")

    # The other flows, so that their sections are filled (and the screenshot shows them).
    s3.put_object(Bucket="notas-fiscais", Key="console/notas.csv",
                  Body=(PROJECT_DIR / "examples" / "notas_fiscais.csv").read_bytes())
    order = system.http.post(f"{system.api}/orders", timeout=10, json={
        "customerId": "c-console", "items": [{"productId": "caderno", "quantity": 1, "unitPrice": "12.50"}]})
    assert order.status_code == 202

    # Poison product messages carrying our correlation id, from the console's form.
    correlation_id = f"console-poison-{uuid.uuid4()}"
    page.fill("#poison-match", correlation_id)
    page.select_option("#poison-handler", "process_product_queue")
    page.click("#poison")
    expect(page.locator(f"#faults li.fault[data-match='{correlation_id}']")).to_be_visible()

    product_id = str(uuid.uuid4())
    product_queue = sqs.get_queue_url(QueueName="product-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=product_queue, MessageBody=product_message(product_id, "Console pen"),
                     MessageAttributes={"correlation_id": {"DataType": "String", "StringValue": correlation_id}})
    product_row = page.locator("#queues tr[data-queue='product-queue']")
    expect(product_row).to_have_attribute("data-dlq-messages", "1", timeout=WAIT_MS)

    # Filtered by its correlation id, the deliveries are its failed attempts: one per receive, then the DLQ.
    page.fill("#cid-filter", correlation_id)
    attempts = page.locator("#deliveries tr.delivery")
    expect(attempts).to_have_count(RESOURCES["ProductQueue"].max_receive_count, timeout=WAIT_MS)
    expect(page.locator("#deliveries tr.delivery[data-failed='0']")).to_have_count(0)
    assert f"cid={correlation_id}" in page.url

    # Its body, peeked without taking it off the DLQ.
    page.click("#peek-product-queue")
    expect(page.locator("#peek .peeked pre.body")).to_contain_text("Console pen")
    expect(page.locator("#peek")).to_contain_text(correlation_id)
    expect(product_row).to_have_attribute("data-dlq-messages", "1")
    page.click("#peek-close")
    expect(page.locator("#peek")).to_be_hidden()

    # Cured and redriven: the worker stores it, and the delivery still carries the correlation id.
    page.click(f"#faults button[data-action='unpoison'][data-match='{correlation_id}']")
    expect(page.locator("#no-faults")).to_be_visible()
    page.click("#redrive-product-queue")
    expect(page.locator("#notice")).to_contain_text("moved 1 message(s) from product-queue-dlq back to product-queue")
    expect(page.locator("#deliveries tr.delivery[data-failed='0']")).to_have_count(1, timeout=WAIT_MS)
    expect(product_row).to_have_attribute("data-dlq-messages", "0", timeout=WAIT_MS)
    stored = wait_until(lambda: (r := system.http.get(f"{system.api}/products/{product_id}", timeout=5)).status_code
                        == 200 and r.json(), timeout=30, what="the redriven product to be stored")
    assert stored["name"] == "Console pen"

    # Every section, unfiltered, for the screenshot.
    page.fill("#cid-filter", "")
    expect(page.locator("#invoice-uploads tr[data-key='console/notas.csv'] .accepted")).to_have_text(
        "4", timeout=WAIT_MS)
    expect(page.locator("#invoice-uploads tr[data-key='console/notas.csv'] .rejected")).to_have_text("2")
    expect(page.locator("#orders [data-status='COMPLETED'] .count")).to_have_text("1", timeout=WAIT_MS)
    expect(page.locator("#sns tr.notification[data-topic='order-notifications']")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("#deliveries tr.delivery[data-handler='process_log_lines']").first).to_be_visible()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
    if README_SCREENSHOT:
        page.screenshot(path=str(README_SCREENSHOT))

    # The handlers' JSON went to the log file, not to the terminal, which has one line per delivery.
    handler_log = (PROJECT_DIR / "build" / "local" / "handlers.log").read_text()
    assert any(json.loads(line).get("product_id") == product_id for line in handler_log.splitlines()
               if line.startswith("{") and product_id in line)
    assert not [line for line in system.output if line.startswith("{")]
    assert any(f"correlation_id={correlation_id}" in line and "1 poisoned (fault switch)" in line
               for line in system.output)
    page.close()


def test_the_banner_names_the_console_and_ctrl_c_stops_without_noise(console_system):
    system = console_system
    assert any(line.split()[:2] == ["Console", system.console] for line in system.output if line.strip())
    assert any(line.split()[:3] == ["Handler", "logs", "build/local/handlers.log"] for line in system.output
               if line.strip())
    assert requests.get(system.console, timeout=10).status_code == 200
    system.process.send_signal(signal.SIGINT)
    assert system.process.wait(15) == 0
    wait_until(lambda: any(line.endswith(" stopped") for line in system.output), timeout=5, what="the last line")
    after = system.output[next(i for i, line in enumerate(system.output) if line.endswith(" stopping")):]
    # A delivery under way when Ctrl-C came may still report itself; nothing else may follow (no pool warnings).
    noise = [line for line in after
             if not re.fullmatch(r"\d\d:\d\d:\d\d (stopping|stopped|(sqs |s3  |sns |cron) .* correlation_id=.*)", line)]
    assert noise == [], "\n".join(after)
