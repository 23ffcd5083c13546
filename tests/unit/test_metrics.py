"""The metrics lines are CloudWatch Embedded Metric Format: parsed here and checked key by key."""
import json
import re
import time
from pathlib import Path

import pytest

from chalicelib import correlation, metrics

PROJECT_DIR = Path(__file__).resolve().parents[2]


def assert_valid_emf(document: dict) -> None:
    """The rules of the EMF specification a CloudWatch Logs line must follow to become metrics."""
    directive = document["_aws"]
    assert isinstance(directive["Timestamp"], int) and abs(directive["Timestamp"] - time.time() * 1000) < 60_000
    [metric_directive] = directive["CloudWatchMetrics"]
    assert metric_directive["Namespace"] == "AsyncCatalog"
    assert metric_directive["Dimensions"] == [["stage"]]
    assert isinstance(document["stage"], str) and document["stage"]
    definitions = metric_directive["Metrics"]
    assert 0 < len(definitions) <= 100
    for definition in definitions:
        assert set(definition) == {"Name", "Unit"} and definition["Unit"] == "Count"
        assert 1 <= len(definition["Name"]) <= 255
        value = document[definition["Name"]]  # each metric's value is a top-level member
        assert all(isinstance(v, (int, float)) for v in (value if isinstance(value, list) else [value]))


def emf_lines(text: str) -> list[dict]:
    return [doc for doc in (json.loads(line) for line in text.splitlines() if line.startswith("{")) if "_aws" in doc]


def value(document: dict, name: str) -> float:
    found = document[name]
    return sum(found) if isinstance(found, list) else found


@pytest.fixture(autouse=True)
def no_leftovers(monkeypatch):
    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    metrics.take()
    yield
    metrics.take()


def test_counts_are_summed_and_flushed_as_one_valid_emf_line(capsys):
    metrics.count("ProductsStored")
    metrics.count("ProductsStored", 2)
    metrics.count("ProductsBatchItemFailures", 0)
    metrics.flush()
    [document] = emf_lines(capsys.readouterr().out)
    assert_valid_emf(document)
    assert document["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "ProductsBatchItemFailures", "Unit": "Count"}, {"Name": "ProductsStored", "Unit": "Count"}]
    assert document["stage"] == "dev"
    assert value(document, "ProductsStored") == 3 and value(document, "ProductsBatchItemFailures") == 0
    assert "service" not in document  # one dimension only: Powertools would add its service


def test_the_stage_dimension_is_the_stage_variable(capsys, monkeypatch):
    monkeypatch.setenv("STAGE", "prod")
    metrics.count("OrdersAccepted")
    metrics.flush()
    [document] = emf_lines(capsys.readouterr().out)
    assert document["stage"] == "prod"


def test_a_flush_forgets_what_it_printed_and_prints_nothing_when_nothing_was_counted(capsys):
    metrics.count("OrdersCompleted")
    metrics.flush()
    metrics.flush()
    assert len(emf_lines(capsys.readouterr().out)) == 1


def test_the_cold_start_is_counted_on_the_first_invocation_of_a_container_only(capsys, monkeypatch):
    monkeypatch.setattr(metrics, "_cold", True)
    for _ in range(3):
        metrics.per_invocation("event", lambda event: metrics.count("OrdersCompleted"))
    documents = emf_lines(capsys.readouterr().out)
    assert len(documents) == 3  # one line per invocation
    for document in documents:
        assert_valid_emf(document)
    assert [document.get("ColdStart") for document in documents] == [[1.0], None, None]


def test_an_invocation_that_raises_still_flushes_its_counts(capsys, monkeypatch):
    monkeypatch.setattr(metrics, "_cold", False)

    def failing(event):
        metrics.count("ProductsFailed")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        metrics.per_invocation("event", failing)
    [document] = emf_lines(capsys.readouterr().out)
    assert value(document, "ProductsFailed") == 1


def test_each_invocation_starts_without_a_correlation_id_and_leaves_none_behind(monkeypatch):
    monkeypatch.setattr(metrics, "_cold", False)
    with correlation.bind("left over on this thread"):
        seen = metrics.per_invocation("event", lambda event: correlation.current())
        assert seen is None
        assert correlation.current() == "left over on this thread"


def test_powertools_metrics_disabled_prints_nothing(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    metrics.count("OrdersCompleted")
    metrics.flush()
    assert emf_lines(capsys.readouterr().out) == []


def test_every_metric_the_app_emits_is_documented():
    source = "\n".join(path.read_text() for path in (PROJECT_DIR / "chalicelib").rglob("*.py"))
    named = set(re.findall(r'metrics\.count\(\s*"(\w+)"', source))
    named |= {name for pair in re.findall(r'metrics\.count\(\s*"(\w+)" if .+? else "(\w+)"', source) for name in pair}
    flows = re.findall(r'flow="(\w+)"', (PROJECT_DIR / "app.py").read_text())
    named |= {f"{flow}BatchItemFailures" for flow in flows}
    assert len(flows) == 6 and named, "the scan found nothing: has the code changed shape?"
    assert named - set(metrics.METRICS) == set()
    assert set(metrics.METRICS) - named == {"ColdStart"}  # counted by name in per_invocation's cold_start()
