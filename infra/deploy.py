"""`chalice deploy`, with what Chalice leaves out: the resources it does not create, and partial batch responses.

1. Create the stage's queues (with DLQs), tables, buckets and topics (idempotent).
2. Run `chalice deploy --stage STAGE`.
3. Switch on ReportBatchItemFailures for every SQS event source mapping Chalice
   recorded in .chalice/deployed/STAGE.json; Chalice 1.34 cannot set it, and
   without it a returned `batchItemFailures` would be ignored.
"""
import json
import subprocess
import sys
from pathlib import Path

import boto3

from infra.stage import CHALICE_DIR, PROJECT_DIR, Stage


def sqs_event_source_uuids(deployed: dict) -> list[str]:
    return [r["event_uuid"] for r in deployed.get("resources", []) if r.get("resource_type") == "sqs_event"]


def enable_batch_item_failures(stage: Stage, lambda_client=None, chalice_dir: Path = CHALICE_DIR) -> list[str]:
    deployed_file = chalice_dir / "deployed" / f"{stage.name}.json"
    deployed = json.loads(deployed_file.read_text())
    lambda_client = lambda_client or boto3.client("lambda")
    uuids = sqs_event_source_uuids(deployed)
    for uuid in uuids:
        lambda_client.update_event_source_mapping(UUID=uuid, FunctionResponseTypes=["ReportBatchItemFailures"])
    return uuids


def deploy(stage: Stage, app) -> None:
    from infra.provision import provision
    provision(stage, app)
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run([str(chalice), "deploy", "--stage", stage.name], cwd=PROJECT_DIR, check=True)
    for uuid in enable_batch_item_failures(stage):
        print(f"ReportBatchItemFailures on for event source mapping {uuid}")
