"""The console's API reference page: the running API's document rendered by Swagger UI, every file served locally."""
import json
import shutil
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from local_runtime import api_reference

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_the_page_loads_nothing_but_the_consoles_own_files():
    status, body, content_type = api_reference.answer(api_reference.PREFIX, "http://127.0.0.1:8000")
    html = body.decode()
    assert status == HTTPStatus.OK and content_type.startswith("text/html")
    assert "http://" not in html and "https://" not in html  # no CDN, no absolute URL at all
    for name in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"):
        assert f"{api_reference.PREFIX}/static/{name}" in html
        status, file, _ = api_reference.answer(f"{api_reference.PREFIX}/static/{name}", None)
        assert status == HTTPStatus.OK and len(file) > 10_000
    status, licence, _ = api_reference.answer(f"{api_reference.PREFIX}/static/LICENSE", None)
    assert b"Apache License" in licence


def test_only_the_listed_files_of_the_package_are_served():
    with pytest.raises(LookupError):
        api_reference.answer(f"{api_reference.PREFIX}/static/../../__init__.py", None)
    with pytest.raises(LookupError):
        api_reference.answer(f"{api_reference.PREFIX}/static/swagger-editor-bundle.js", None)


def test_the_document_is_the_apis_with_the_api_as_its_server():
    asked = []

    def fetch(api):
        asked.append(api)
        return {"openapi": "3.1.0", "paths": {}, "servers": [{"url": "/"}]}
    status, body, content_type = api_reference.answer(api_reference.DOCUMENT, "http://127.0.0.1:8123", fetch)
    assert (status, content_type, asked) == (HTTPStatus.OK, "application/json", ["http://127.0.0.1:8123"])
    assert json.loads(body)["servers"][0]["url"] == "http://127.0.0.1:8123"


def test_an_api_that_does_not_answer_is_a_502_not_a_crash():
    def fetch(api):
        raise ConnectionRefusedError("refused")
    status, body, _ = api_reference.answer(api_reference.DOCUMENT, "http://127.0.0.1:9", fetch)
    assert status == HTTPStatus.BAD_GATEWAY and "refused" in json.loads(body)["error"]


@pytest.mark.e2e
def test_make_runs_console_renders_every_operation_without_leaving_the_machine(local_system):
    assert Path(CHROMIUM).exists(), "Chromium is not installed: `make chromium` installs Debian's package"
    from playwright.sync_api import expect, sync_playwright

    served = requests.get(f"{local_system.api}/openapi.json", timeout=10).json()
    operation_ids = [operation["operationId"] for methods in served["paths"].values()
                     for operation in methods.values()]
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(local_system.console)
            page.click("#api-reference")
            for operation_id in operation_ids:
                expect(page.locator(f"[id$='-{operation_id}']").first).to_be_visible(timeout=20_000)
            expect(page.locator(".opblock")).to_have_count(len(operation_ids))
            expect(page.locator(".servers")).to_contain_text(local_system.api)
        finally:
            browser.close()
    hosts = {urlsplit(url).hostname for url in requested if urlsplit(url).scheme in ("http", "https")}
    assert hosts == {"127.0.0.1"}, requested
