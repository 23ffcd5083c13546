"""`make package`: the stage's CloudFormation template, built in a fixed sequence of steps.

`chalice package` writes the functions and the API as a SAM template, merged
with the template built from infra/resources.py. Then each step edits that
template in its own module. The modules below know nothing of this one, and
each step takes the template and the stage, plus the app or the functions
the first step found:

1. Template from resources (infra/cloudformation.py): `resource_template` is
   what Chalice merges; `join_functions` joins Chalice's functions and API to
   it (event sources, S3 notifications, names and environments, on-failure
   destinations, throttle, tracing) and returns the functions.
2. Grants (infra/iam.py): each function's role gets its generated policy.
3. Network (infra/product_db.py): on a postgres stage, the functions that use
   the database go into its VPC, after its migration.
4. Alarms (infra/alarms.py): the workers' errors, the log volume, the dashboard.
5. Protections: the gateway's refusals and the authorizer's settings
   (infra/identity.py), then log groups, API access logs and the SQS
   consumers' caps (infra/hardening.py).

Alarms come before the protections only so that the resources keep the order
the packaged template has always had. CloudFormation ignores that order, but
a diff of two packaged templates does not. Neither step reads what the other
adds.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from infra import alarms, cloudformation, hardening, iam, identity, product_db
from infra.stage import PROJECT_DIR, Stage


def package(stage: Stage, app, out_dir: Path) -> Path:
    """The stage's template in out_dir/sam.json, and the API's contract beside it; returns sam.json's path."""
    out_dir = Path(out_dir).resolve()
    template = chalice_package(stage, cloudformation.resource_template(stage, app), out_dir)
    sam = out_dir / "sam.json"
    sam.write_text(json.dumps(finish(template, stage, app), indent=2))
    # The API's contract beside the template (issue 21): the document GET /openapi.json serves on this stage.
    from chalicelib.openapi import published
    (out_dir / "openapi.json").write_text(json.dumps(published(app, stage.api_stage_name), indent=2))
    return sam


def chalice_package(stage: Stage, resources: dict, out_dir: Path) -> dict:
    """`chalice package --merge-template` of the stage into out_dir (through infra/chalice_package.py, which
    accepts S3 triggers); returns the template it wrote, the resources merged in."""
    with tempfile.TemporaryDirectory() as tmp:
        merge = Path(tmp) / "resources.json"
        merge.write_text(json.dumps(resources, indent=2))
        # The stage's store, not the shell's: app.py defines the migration function only on a postgres stage.
        env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
               "PRODUCT_STORE": stage.product_store}
        subprocess.run([sys.executable, "-m", "infra.chalice_package", "--project-dir", str(stage.project_dir),
                        "package", "--stage", stage.name, "--merge-template", str(merge), str(out_dir)],
                       cwd=PROJECT_DIR, env=env, check=True)
    return json.loads((out_dir / "sam.json").read_text())


def finish(template: dict, stage: Stage, app) -> dict:
    """The steps after `chalice package`, in order; the template is changed in place and returned."""
    functions = cloudformation.join_functions(template, stage, app)  # 1. template from resources
    iam.grant(template, stage, app, functions)  # 2. grants
    product_db.place_functions(template, stage, app, functions)  # 3. network
    alarms.add_alarms(template, stage, functions)  # 4. alarms
    identity.add_identity(template, stage)  # 5. protections: who may call the API,
    hardening.harden(template, stage, functions)  # what is logged, how fast queues are consumed
    return template
