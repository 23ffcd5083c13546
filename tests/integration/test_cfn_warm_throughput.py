"""WarmThroughput per stage (`infra.warm_throughput`): what a table serves from its first second, in the packaged
template and through the SAM transform, and the settings infra/stage.py refuses."""
import copy
import json

import pytest

from infra.cloudformation import resource_template
from infra.resources import RESOURCES, Table
from infra.stage import NEW_TABLE_WARM_THROUGHPUT, Stage
from tests.integration.test_cfn_sam_transform import expanded
from tests.integration.test_packaging import packaged

SPELLED = {"write": "WriteUnitsPerSecond", "read": "ReadUnitsPerSecond"}


def with_warm(stage: Stage, warm) -> Stage:
    config = copy.deepcopy(stage.config)
    config["stages"][stage.name].setdefault("infra", {})["warm_throughput"] = warm
    return Stage(stage.name, config, stage.project_dir)


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_each_table_of_the_packaged_template_starts_at_the_stages_warm_throughput(name):
    stage = Stage.load(name)
    tables = {lid: r for lid, r in json.loads(packaged(name).read_text())["Resources"].items()
              if r["Type"] == "AWS::DynamoDB::Table"}
    assert tables
    for logical_id, table in tables.items():
        given = stage.settings.warm_throughput.get(logical_id)
        if given:
            assert table["Properties"]["WarmThroughput"] == {SPELLED[k]: v for k, v in given.items()}
        else:
            assert "WarmThroughput" not in table["Properties"]


def test_prod_warms_the_log_tables_and_dev_none():
    prod, dev = Stage.load("prod").settings, Stage.load("dev").settings
    assert prod.warm_throughput["ProcessedLogsTable"]["write"] > NEW_TABLE_WARM_THROUGHPUT["write"]
    assert prod.warm_throughput["LogBatchesTable"]["write"] > NEW_TABLE_WARM_THROUGHPUT["write"]
    assert dev.warm_throughput == {}


def test_the_sam_transform_keeps_the_tables_warm_throughput():
    packaged_template, cfn = expanded("prod")
    warm = {lid: r["Properties"]["WarmThroughput"] for lid, r in packaged_template["Resources"].items()
            if r["Type"] == "AWS::DynamoDB::Table" and "WarmThroughput" in r["Properties"]}
    assert warm
    for logical_id, value in warm.items():
        assert cfn["Resources"][logical_id]["Properties"]["WarmThroughput"] == value


def test_a_stage_setting_read_and_write_gets_both_on_its_table():
    stage = with_warm(Stage.load("dev"), {"InvoicesTable": {"write": 8000, "read": 24000}})
    template = resource_template(stage, stage.load_app())
    assert template["Resources"]["InvoicesTable"]["Properties"]["WarmThroughput"] == \
        {"ReadUnitsPerSecond": 24000, "WriteUnitsPerSecond": 8000}
    assert "WarmThroughput" not in template["Resources"]["OrdersTable"]["Properties"]


@pytest.mark.parametrize("warm, refused", [
    ({"LogQueue": {"write": 8000}}, "not a table"),                        # a queue, not a table
    ({"NoSuchTable": {"write": 8000}}, "not a table"),
    ({"ProcessedLogsTable": {"writes": 8000}}, "takes \"write\""),         # a misspelt kind
    ({"ProcessedLogsTable": {}}, "takes \"write\""),
    ({"ProcessedLogsTable": 8000}, "takes \"write\""),
    ({"ProcessedLogsTable": {"write": 2000}}, "at least 4,000"),           # below what a new table serves anyway
    ({"ProcessedLogsTable": {"read": 6000}}, "at least 12,000"),
    ({"ProcessedLogsTable": {"write": "40000"}}, "whole number"),
    ({"ProcessedLogsTable": {"write": True}}, "whole number"),
])
def test_a_warm_throughput_the_stage_cannot_have_is_refused(warm, refused):
    with pytest.raises(SystemExit, match=refused):
        _ = with_warm(Stage.load("dev"), warm).settings


def test_every_table_may_be_warmed():
    tables = [lid for lid, r in RESOURCES.items() if isinstance(r, Table)]
    stage = with_warm(Stage.load("dev"), {lid: {"write": 4000} for lid in tables})
    assert set(stage.settings.warm_throughput) == set(tables)
