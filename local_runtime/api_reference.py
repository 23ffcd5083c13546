"""The API reference page of `make run`'s console: Swagger UI over the running API's own /openapi.json, no CDN.

The machine has no internet, so nothing is fetched from elsewhere: Swagger UI 5
(the first to read OpenAPI 3.1) comes from the swagger-ui-py package
(requirements-dev.txt), whose static files the console serves under
/api-reference/static/ (Apache 2.0; its LICENSE is served beside them). The
document is the one the API serves: the console fetches GET /openapi.json from
the local API and serves it from its own origin, because the browser would
not let a page of the console's origin read the API's (it sends no CORS
headers). For the same reason the page reads, it does not send: "Try it out"
is off, and the README's session and `make run`'s banner have the curl lines.

Dev tooling, never shipped: chalicelib/openapi builds the document; this only shows it.
"""
import json
import urllib.error
import urllib.request
from http import HTTPStatus
from pathlib import Path
from typing import Callable

PREFIX = "/api-reference"
DOCUMENT = f"{PREFIX}/openapi.json"
# What the page loads, and the licence: nothing else of the package is served.
STATIC = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "LICENSE": "text/plain; charset=utf-8",
}
PATHS = (PREFIX, DOCUMENT, *(f"{PREFIX}/static/{name}" for name in STATIC))
FETCH_TIMEOUT_SECONDS = 5

Answer = tuple[int, bytes, str]  # status, body, content type


def static_dir() -> Path:
    import swagger_ui  # swagger-ui-py: Swagger UI's dist files in swagger_ui/static
    return Path(swagger_ui.__file__).resolve().parent / "static"


def page() -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AsyncCatalog API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{PREFIX}/static/swagger-ui.css">
<link rel="icon" type="image/png" href="{PREFIX}/static/favicon-32x32.png">
<style>body {{ margin: 0; }} .topbar {{ display: none; }}
#note {{ font: 14px sans-serif; padding: 8px 20px; background: #fafafa; border-bottom: 1px solid #eee; }}</style>
</head><body>
<p id="note"><a href="/">&larr; console</a> &middot; the document is the running API's
<a href="{DOCUMENT}">GET /openapi.json</a> &middot; Swagger UI (<a href="{PREFIX}/static/LICENSE">Apache 2.0</a>),
served locally</p>
<div id="swagger-ui"></div>
<script src="{PREFIX}/static/swagger-ui-bundle.js"></script>
<script src="{PREFIX}/static/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "{DOCUMENT}", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout",
  supportedSubmitMethods: [], validatorUrl: null, defaultModelsExpandDepth: 0,
}});
</script>
</body></html>"""


def fetch_document(api: str) -> dict:
    with urllib.request.urlopen(f"{api}/openapi.json", timeout=FETCH_TIMEOUT_SECONDS) as answer:  # noqa: S310
        return json.loads(answer.read())


def answer(path: str, api: str | None, fetch: Callable[[str], dict] = fetch_document) -> Answer:
    """What the console answers for one of PATHS."""
    if path == PREFIX:
        return HTTPStatus.OK, page().encode(), "text/html; charset=utf-8"
    if path == DOCUMENT:
        if not api:
            return HTTPStatus.SERVICE_UNAVAILABLE, b'{"error": "this console knows no API"}', "application/json"
        try:
            document = fetch(api)
        except (OSError, ValueError) as error:  # the API is starting, stopped, or answered something else
            body = json.dumps({"error": f"GET {api}/openapi.json failed: {error}"}).encode()
            return HTTPStatus.BAD_GATEWAY, body, "application/json"
        # The paths are the API's, on its own origin; the page shows that URL with each operation.
        document["servers"] = [{"url": api, "description": "make run's API"}]
        return HTTPStatus.OK, json.dumps(document).encode(), "application/json"
    name = path.removeprefix(f"{PREFIX}/static/")
    if name not in STATIC:
        raise LookupError(f"no such page: {path}")
    return HTTPStatus.OK, (static_dir() / name).read_bytes(), STATIC[name]
