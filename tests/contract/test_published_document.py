"""`make package` publishes the contract: openapi.json beside the template, the served document with the stage's
API Gateway URL as its server."""
import json

from openapi_spec_validator import validate

from chalicelib.openapi import document
from tests.contract.support import undocumented
from tests.integration.test_packaging import packaged  # one `make package` per test run, shared


def test_make_package_writes_the_document_beside_the_template(app):
    published = json.loads((packaged("dev").parent / "openapi.json").read_text())
    validate(published)
    assert undocumented(app, published) == []
    [server] = published["servers"]
    assert server["url"] == "https://{restApiId}.execute-api.{region}.amazonaws.com/api"
    assert set(server["variables"]) == {"restApiId", "region"}
    served = json.loads(json.dumps(document(app)))
    assert {**published, "servers": served["servers"]} == served  # the same contract as GET /openapi.json
