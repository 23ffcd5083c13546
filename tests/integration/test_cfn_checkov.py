"""checkov (an independent IaC scanner) on the packaged dev and prod templates: every finding is fixed in the
template or explained in infra/checkov-skips.yaml, and every explanation still explains a finding."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra import checkov_scan
from infra.checkov_scan import Finding, Skip
from tests.integration.test_packaging import packaged


@pytest.fixture(scope="module")
def findings():
    # Each scan is a checkov process of its own, which this process only waits for: the stages are scanned at
    # once, the first while the next is packaged, instead of one after the other.
    with ThreadPoolExecutor(max_workers=len(checkov_scan.STAGES)) as pool:
        scans = {name: pool.submit(checkov_scan.scan, packaged(name)) for name in checkov_scan.STAGES}
    return {name: scan.result() for name, scan in scans.items()}


def test_every_checkov_finding_on_the_dev_and_prod_templates_is_explained(findings):
    skips = checkov_scan.load_skips()
    left = {name: [str(f) for f in checkov_scan.unexplained(found, name, skips)] for name, found in findings.items()}
    assert left == {"dev": [], "prod": []}


def test_every_explanation_still_explains_a_finding(findings):
    assert checkov_scan.stale(findings, checkov_scan.load_skips()) == []


def test_what_checkov_found_in_issue_19_is_fixed_in_prod(findings):
    prod = {(f.check, f.resource) for f in findings["prod"]}
    assert not [f for f in prod if f[0] == "CKV_AWS_76"]  # API access logging
    assert not [f for f in prod if f[0] == "CKV_AWS_26"]  # SNS topics encrypted
    assert not {("CKV_AWS_18", "InputLogsBucket"), ("CKV_AWS_18", "InvoicesBucket")} & prod  # upload access logs


def test_an_explanation_covers_its_check_resources_and_stages_only():
    skip = Skip("CKV_AWS_18", ("InputLogsBucket", "*Dlq"), "why", ("dev",))
    assert skip.explains(Finding("CKV_AWS_18", "InputLogsBucket", "x"), "dev")
    assert skip.explains(Finding("CKV_AWS_18", "OrdersQueueDlq", "x"), "dev")
    assert not skip.explains(Finding("CKV_AWS_18", "InputLogsBucket", "x"), "prod")
    assert not skip.explains(Finding("CKV_AWS_21", "InputLogsBucket", "x"), "dev")
    assert not skip.explains(Finding("CKV_AWS_18", "ReportsBucket", "x"), "dev")
    found = {"dev": [Finding("CKV_AWS_18", "ReportsBucket", "x")]}
    assert checkov_scan.unexplained(found["dev"], "dev", [skip]) == found["dev"]
    assert checkov_scan.stale(found, [skip]) == [skip]


def test_an_explanation_without_a_reason_is_refused(tmp_path):
    path = tmp_path / "skips.yaml"
    path.write_text("- check: CKV_AWS_18\n  resources: [ReportsBucket]\n  reason: ' '\n")
    with pytest.raises(SystemExit, match="CKV_AWS_18"):
        checkov_scan.load_skips(path)
